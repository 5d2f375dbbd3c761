package service

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"marketetl/config"
	"marketetl/store"
)

// runRetention builds the retention job from the RETENTION_* variables
// and runs it until ctx ends. collector_status is left to the supervisor
// (STATUS_RETENTION).
func runRetention(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, reg prometheus.Registerer, log *zap.Logger) error {
	r, err := store.NewRetention(retentionConfig(cfg, reg, log), pool)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// retentionConfig maps the configuration to the retention job's rules.
func retentionConfig(cfg config.Config, reg prometheus.Registerer, log *zap.Logger) store.RetentionConfig {
	return store.RetentionConfig{
		Rules: []store.RetentionRule{
			{Table: "trades", Keep: cfg.RetentionTrades},
			{Table: "tickers", Keep: cfg.RetentionTickers},
			{Table: "book_snapshots", Keep: cfg.RetentionBookSnapshots},
			{Table: "book_updates", Keep: cfg.RetentionBookUpdates},
			{Table: "rejects", Keep: cfg.RetentionRejects},
			{Table: "gaps", Keep: cfg.RetentionFilledGaps},
			{Table: "candles", Keep: cfg.RetentionCandles},
		},
		Interval:       cfg.RetentionInterval,
		BatchSize:      cfg.RetentionBatchSize,
		MaxRowsPerPass: int64(cfg.RetentionBatchSize) * 100,
		Registerer:     reg,
		Log:            log.Named("retention"),
	}
}

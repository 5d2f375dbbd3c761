package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/config"
	"marketetl/logging"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/pubsub"
	"marketetl/store"
	"marketetl/validate"
)

// core is the data path shared by run and demo: the database pool, the
// store writer, the Redis publisher and the validating pipeline in front
// of them. Build it with newCore and run it with runData.
type core struct {
	cfg    config.Config
	log    *zap.Logger
	pool   *pgxpool.Pool
	writer *store.Writer
	pub    *pubsub.Publisher // nil when REDIS_ENABLED=false
	pipe   *pipeline.Pipeline
}

// loadConfig reads the environment and builds the logger.
func loadConfig() (config.Config, *zap.Logger, func() error, error) {
	cfg, err := config.Load(config.LookupEnv)
	if err != nil {
		return cfg, nil, nil, err
	}
	log, closeLog, err := logging.New(logging.Config{
		Level: cfg.LogLevel, Format: cfg.LogFormat, Dir: cfg.LogDir, MaxFiles: cfg.LogMaxFiles, Cleanup: cfg.LogCleanup,
	})
	if err != nil {
		return cfg, nil, nil, err
	}
	return cfg, log, closeLog, nil
}

// openDatabase connects to DATABASE_URL, retrying for DATABASE_WAIT while
// the database is unreachable, so that a service started before its
// database waits instead of failing.
func openDatabase(ctx context.Context, cfg config.Config, log *zap.Logger) (*pgxpool.Pool, error) {
	deadline := time.Now().Add(cfg.DatabaseWait)
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pool, err := store.Open(ctx, cfg.DatabaseURL)
		if err == nil {
			return pool, nil
		}
		if ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return nil, fmt.Errorf("database (DATABASE_URL, waited %s, DATABASE_WAIT): %w", cfg.DatabaseWait, err)
		}
		log.Warn("database not reachable yet; retrying", zap.Error(err), zap.Int("attempt", attempt), zap.Duration("retry_in", delay))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		if delay < 5*time.Second {
			delay *= 2
		}
	}
}

// newCore builds the data path; onFlush (may be nil) observes each flush.
func newCore(cfg config.Config, log *zap.Logger, pool *pgxpool.Pool, onFlush func(store.FlushResult)) (*core, error) {
	w, err := store.New(store.Config{
		OnFlush:          onFlush,
		BatchSize:        cfg.StoreBatchSize,
		FlushInterval:    cfg.StoreFlushInterval,
		QueueSize:        cfg.StoreQueueSize,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		RawLimit:         cfg.StoreRawLimit,
		RejectsPerSecond: float64(cfg.StoreRejectsPerSec),
		RejectsBurst:     cfg.StoreRejectsPerSec,
	}, pool, log.Named("store"))
	if err != nil {
		return nil, err
	}
	c := &core{cfg: cfg, log: log, pool: pool, writer: w}
	var pub pipeline.Publisher
	if cfg.RedisEnabled {
		p, err := pubsub.New(pubsub.Config{
			URL:           cfg.RedisURL,
			ChannelPrefix: cfg.RedisChannelPrefix,
			BatchSize:     cfg.RedisBatchSize,
			FlushInterval: cfg.RedisFlushInterval,
			QueueSize:     cfg.RedisQueueSize,
			StreamMaxLen:  int64(cfg.RedisStreamMaxLen),
		}, log.Named("pubsub"))
		if err != nil {
			return nil, err
		}
		c.pub = p
		pub = p
	}
	v, err := validate.New(validate.Config{ClockSkew: cfg.ValidateClockSkew}, nil)
	if err != nil {
		return nil, err
	}
	c.pipe, err = pipeline.New(pipeline.Config{
		Checker:   v,
		Store:     w,
		Publisher: pub,
		Raw:       func(rec market.Record) []byte { return pubsub.Encode(nil, rec) },
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// runWithData runs the store writer and the publisher, then fn (the
// collectors) under ctx. When ctx ends, fn returns first (its collectors
// stop handing records on), and only then are the writer and the publisher
// told to drain and flush: nothing that was accepted is lost.
func (c *core) runWithData(ctx context.Context, fn func(ctx context.Context) error) error {
	dataCtx, stopData := context.WithCancel(context.WithoutCancel(ctx))
	defer stopData()
	data, _ := errgroup.WithContext(dataCtx)
	data.Go(func() error { return c.writer.Run(dataCtx) })
	if c.pub != nil {
		data.Go(func() error { return c.pub.Run(dataCtx) })
	}
	fnErr := fn(ctx)
	stopData()
	dataErr := data.Wait()
	if errors.Is(dataErr, context.Canceled) {
		dataErr = nil
	}
	return errors.Join(fnErr, dataErr)
}

// httpClient is the REST client shared by the exchange adapters.
func httpClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

// components reports the live feed's and the store's health for
// GET /api/status. Error texts come from the components, which redact
// passwords.
func (c *core) components() map[string]any {
	out := map[string]any{}
	redis := map[string]any{"enabled": c.pub != nil}
	if c.pub != nil {
		st := c.pub.Status()
		redis["state"] = st.State
		redis["connected"] = st.Connected
		redis["since"] = st.Since
		redis["published"] = st.Published
		redis["dropped"] = st.Dropped
		redis["pending"] = st.Pending
		redis["reconnects"] = st.Reconnects
		if st.LastError != "" {
			redis["last_error"] = st.LastError
			redis["last_error_time"] = st.LastErrorTime
		}
	}
	out["redis"] = redis
	ws := c.writer.Stats()
	out["store"] = map[string]any{
		"queue_depth":     ws.QueueDepth,
		"tables":          ws.Tables,
		"rejects_stored":  ws.RejectsStored,
		"rejects_dropped": ws.RejectsDropped,
	}
	return out
}

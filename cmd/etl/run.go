package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/collector"
	"marketetl/config"
	"marketetl/store"
	"marketetl/supervisor"
)

// cmdRun runs the configured collectors under the supervisor, with the
// admin API, until SIGINT/SIGTERM; SIGHUP re-reads ETL_CONFIG.
func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	migrate := fs.Bool("migrate", false, "apply pending schema migrations before starting")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg, log, closeLog, err := loadConfig()
	if err != nil {
		return err
	}
	defer closeLog()
	specs, err := config.LoadCollectors(cfg.CollectorsConfigPath)
	if err != nil {
		return err
	}
	pool, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	if *migrate {
		if err := migrateUp(ctx, cfg.DatabaseURL, log); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	flushes, err := newFlushMetrics(reg)
	if err != nil {
		return err
	}
	c, err := newCore(cfg, log, pool, flushes.observe)
	if err != nil {
		return err
	}
	apis, _, err := c.attachExchanges(endpointsFromConfig(cfg), nil)
	if err != nil {
		return err
	}
	build := collectorFactory(apis, c.pipe, int64(cfg.ReadLimitBytes), log, newGapDetection(pool, c.gapRecorder()).storedBy(c.writer))
	if err := registerDataMetrics(reg, c); err != nil {
		return err
	}
	secrets := []string{cfg.AdminToken}
	m, err := supervisor.New(supervisor.Config{
		HealthCheckInterval:       cfg.HealthCheckInterval,
		GlobalHealthCheckInterval: cfg.GlobalHealthCheckInterval,
		MaxSilence:                cfg.MaxSilence,
		HeartbeatTimeout:          cfg.HeartbeatTimeout,
		MaxErrorsPerMinute:        float64(cfg.MaxErrorsPerMinute),
		ReconnectDelay:            cfg.ReconnectDelay,
		ReconnectDelayMax:         cfg.ReconnectDelayMax,
		MaxReconnectAttempts:      cfg.MaxReconnectAttempts,
		FailureDecay:              cfg.FailureDecay,
		FailedRetryInterval:       cfg.FailedRetryInterval,
		StopTimeout:               cfg.StopTimeout,
		ShutdownTimeout:           cfg.ShutdownTimeout * 3 / 5,
		StatusRetention:           cfg.StatusRetention,
		Secrets:                   secrets,
		Registerer:                reg,
		Log:                       log.Named("supervisor"),
	}, func(spec collector.Spec) (supervisor.Runner, error) { return build(spec) },
		store.NewRegistry(pool), store.NewStatusLog(pool))
	if err != nil {
		return err
	}
	if _, err := m.Reconcile(ctx, specs); err != nil {
		return fmt.Errorf("seed collectors from %s: %w", cfg.CollectorsConfigPath, err)
	}
	var api *supervisor.API
	if cfg.AdminAddr != "" {
		api, err = supervisor.NewAPI(supervisor.APIConfig{
			Addr: cfg.AdminAddr, Token: cfg.AdminToken, DB: pool, Gatherer: reg, Secrets: secrets, Log: log.Named("api"),
			Components: c.components,
		}, m)
		if err != nil {
			return err
		}
	}
	log.Info("marketetl starting", zap.Int("collectors", len(specs)), zap.String("admin_addr", cfg.AdminAddr))
	err = c.runWithData(ctx, func(ctx context.Context) error {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return m.Run(gctx) })
		if api != nil {
			g.Go(func() error { return api.Run(gctx) })
		}
		g.Go(func() error { return reloadOnHUP(gctx, cfg.CollectorsConfigPath, m, log) })
		return g.Wait()
	})
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("marketetl stopped", zap.Error(err))
	return err
}

// reloadOnHUP re-reads the collectors file on SIGHUP and applies only the
// differences; a bad file is logged and changes nothing.
func reloadOnHUP(ctx context.Context, path string, m *supervisor.Manager, log *zap.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
		}
		specs, err := config.LoadCollectors(path)
		if err != nil {
			log.Error("SIGHUP: collectors file not applied", zap.Error(err))
			continue
		}
		d, err := m.Reconcile(ctx, specs)
		if err != nil {
			log.Error("SIGHUP: collectors file partly applied", zap.Error(err))
			continue
		}
		log.Info("SIGHUP: collectors file applied", zap.Any("diff", d))
	}
}

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

	"go.uber.org/zap"

	"marketetl/config"
	"marketetl/exchange"
	"marketetl/service"
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
	pool, err := service.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	if *migrate {
		if err := migrateUp(ctx, cfg.DatabaseURL, log); err != nil {
			return err
		}
	}
	svc, err := service.New(cfg, pool, exchange.Registry(), service.WithLogger(log))
	if err != nil {
		return err
	}
	if err := svc.CheckCredentials(specs); err != nil {
		return fmt.Errorf("%s: %w", cfg.CollectorsConfigPath, err)
	}
	m := svc.Supervisor()
	if _, err := m.Reconcile(ctx, specs); err != nil {
		return fmt.Errorf("seed collectors from %s: %w", cfg.CollectorsConfigPath, err)
	}
	gogc, memLimit := gcSettings()
	log.Info("marketetl starting", zap.Int("collectors", len(specs)), zap.String("admin_addr", cfg.AdminAddr),
		zap.Int64("gogc", gogc), zap.Int64("gomemlimit_bytes", memLimit))
	err = svc.RunWith(ctx, func(ctx context.Context) error {
		return reloadOnHUP(ctx, cfg.CollectorsConfigPath, m, log)
	})
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("marketetl stopped", zap.Error(err))
	return err
}

// reloadOnHUP re-reads the collectors file on SIGHUP and applies only the
// differences; a bad file is logged and changes nothing. A collector whose
// symbols alone changed is resubscribed without a restart (its other
// streams keep their connections); other changes restart it.
func reloadOnHUP(ctx context.Context, path string, m *supervisor.Manager, log *zap.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return reloadOn(ctx, hup, path, m, log)
}

// reloadOn applies the collectors file at path each time a signal arrives
// on hup, until ctx ends.
func reloadOn(ctx context.Context, hup <-chan os.Signal, path string, m *supervisor.Manager, log *zap.Logger) error {
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

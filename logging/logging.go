// Package logging builds the service's zap logger from LOG_LEVEL,
// LOG_FORMAT, LOG_DIR, LOG_MAX_FILES and LOG_CLEANUP.
package logging

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config says where and how to log.
type Config struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is console or json.
	Format string
	// Dir, when set, also writes logs to Dir/etl.log, rotated at MaxSizeMB:
	// the full file is renamed etl-<UTC time>.log and a new one begun.
	Dir string
	// MaxFiles is how many rotated files are kept (besides etl.log) when
	// Cleanup is true; the oldest beyond it are removed at each rotation.
	MaxFiles int
	// Cleanup removes rotated files beyond MaxFiles; false keeps them all.
	Cleanup bool
	// MaxSizeMB is the size at which etl.log is rotated. Default 100.
	MaxSizeMB int
	// MaxBytes, when above 0, is the rotation size in bytes instead of
	// MaxSizeMB.
	MaxBytes int64
	// Now is the clock that names rotated files (default time.Now).
	Now func() time.Time
}

// New returns the logger and a function that flushes and closes its files.
func New(cfg Config) (*zap.Logger, func() error, error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, nil, fmt.Errorf("LOG_LEVEL: %q: want debug, info, warn or error", cfg.Level)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch cfg.Format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console", "":
		c := encCfg
		c.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(c)
	default:
		return nil, nil, fmt.Errorf("LOG_FORMAT: %q: want console or json", cfg.Format)
	}
	cores := []zapcore.Core{zapcore.NewCore(enc, zapcore.Lock(os.Stderr), level)}
	closeFn := func() error { return nil }
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("LOG_DIR: create %s: %w", cfg.Dir, err)
		}
		size := cfg.MaxBytes
		if size <= 0 {
			size = int64(cfg.MaxSizeMB) << 20
		}
		if size <= 0 {
			size = 100 << 20
		}
		keep := -1
		if cfg.Cleanup {
			keep = max(cfg.MaxFiles, 0)
		}
		now := cfg.Now
		if now == nil {
			now = time.Now
		}
		rot, err := newRotator(cfg.Dir, "etl.log", size, keep, now)
		if err != nil {
			return nil, nil, fmt.Errorf("LOG_DIR: %w", err)
		}
		// Files are always JSON: one record a line, for log shippers.
		cores = append(cores, zapcore.NewCore(zapcore.NewJSONEncoder(encCfg), rot, level))
		closeFn = rot.Close
	}
	log := zap.New(zapcore.NewTee(cores...), zap.AddCaller())
	return log, func() error {
		_ = log.Sync()
		return closeFn()
	}, nil
}

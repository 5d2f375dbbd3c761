// Package logging builds the service's zap logger from LOG_LEVEL,
// LOG_FORMAT, LOG_DIR, LOG_MAX_FILES and LOG_CLEANUP.
package logging

import (
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"
)

// Config says where and how to log.
type Config struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is console or json.
	Format string
	// Dir, when set, also writes logs to Dir/etl.log, rotated at MaxSizeMB.
	Dir string
	// MaxFiles is how many rotated files are kept when Cleanup is true.
	MaxFiles int
	// Cleanup removes rotated files beyond MaxFiles; false keeps them all.
	Cleanup bool
	// MaxSizeMB is the size at which etl.log is rotated. Default 100.
	MaxSizeMB int
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
		size := cfg.MaxSizeMB
		if size <= 0 {
			size = 100
		}
		lj := &lumberjack.Logger{Filename: filepath.Join(cfg.Dir, "etl.log"), MaxSize: size, Compress: false}
		if cfg.Cleanup {
			lj.MaxBackups = cfg.MaxFiles
		}
		// Files are always JSON: one record a line, for log shippers.
		cores = append(cores, zapcore.NewCore(zapcore.NewJSONEncoder(encCfg), zapcore.AddSync(lj), level))
		closeFn = lj.Close
	}
	log := zap.New(zapcore.NewTee(cores...), zap.AddCaller())
	return log, func() error {
		_ = log.Sync()
		return closeFn()
	}, nil
}

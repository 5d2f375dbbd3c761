package main

import (
	"go.uber.org/zap"

	"marketetl/config"
	"marketetl/logging"
)

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

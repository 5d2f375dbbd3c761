package supervisor

import (
	"time"

	"marketetl/backoff"
)

// restartDelay returns the delay before restart number attempt (1 for the first
// restart after a failure): ReconnectDelay doubled for each earlier
// consecutive failure and capped by ReconnectDelayMax, spread by ±Jitter
// with r in [0,1), and capped by ReconnectDelayMax again.
func restartDelay(cfg *Config, attempt int, r float64) time.Duration {
	return backoff.Policy{
		Min: cfg.ReconnectDelay, Max: cfg.ReconnectDelayMax,
		Jitter: backoff.Jitter{Below: cfg.Jitter, Above: cfg.Jitter},
		Rand:   func() float64 { return r },
	}.Delay(max(attempt, 1) - 1)
}

package supervisor

import (
	"math"
	"time"
)

// backoff returns the delay before restart number attempt (1 for the first
// restart after a failure): ReconnectDelay doubled for each earlier
// consecutive failure, spread by ±Jitter with r in [0,1), and capped by
// ReconnectDelayMax.
func backoff(cfg *Config, attempt int, r float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(cfg.ReconnectDelay) * math.Pow(2, float64(attempt-1))
	d *= 1 + cfg.Jitter*(2*r-1)
	if max := float64(cfg.ReconnectDelayMax); d > max || math.IsInf(d, 0) || math.IsNaN(d) {
		return cfg.ReconnectDelayMax
	}
	return time.Duration(math.Round(d))
}

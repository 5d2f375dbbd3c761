package collector

import (
	"sync/atomic"
	"time"
)

// ExchangeClock is the host's clock corrected by the skew measured against
// an exchange's server time. A private adapter time-stamps its signatures
// with Now, so that a host clock a few seconds off does not get its logins
// refused; the collector that owns the adapter's connections measures the
// skew (at start, before every redial) and sets it. Safe for concurrent use.
type ExchangeClock struct {
	host func() time.Time
	skew atomic.Int64 // nanoseconds: exchange time minus host time
}

// NewExchangeClock returns a clock over host (nil: time.Now) with no skew.
func NewExchangeClock(host func() time.Time) *ExchangeClock {
	if host == nil {
		host = time.Now
	}
	return &ExchangeClock{host: host}
}

// Now returns the exchange's time: the host's time plus the measured skew.
func (c *ExchangeClock) Now() time.Time { return c.host().Add(c.Skew()) }

// Skew returns the last measured skew (the exchange's clock minus the
// host's); zero until measured.
func (c *ExchangeClock) Skew() time.Duration { return time.Duration(c.skew.Load()) }

// SetSkew sets the skew.
func (c *ExchangeClock) SetSkew(d time.Duration) { c.skew.Store(int64(d)) }

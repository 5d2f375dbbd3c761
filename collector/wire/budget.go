package wire

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// BudgetConfig configures a Budget.
type BudgetConfig struct {
	// Name names the budget (the exchange) in errors.
	Name string
	// Rate is the sustained number of cost units per second, Burst the most
	// spent at once. Rate <= 0 means no limit (only pauses).
	Rate  float64
	Burst int
	// Cost returns the cost of a request in units (Binance's request
	// weight); nil or a result < 1 counts 1.
	Cost func(*http.Request) int
	// PauseOn429 and PauseOn418 are how long the whole budget pauses after
	// a 429 (or 418, Binance's IP ban) without a usable Retry-After.
	// Defaults 1m and 2m.
	PauseOn429, PauseOn418 time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// BudgetStats is a snapshot of a Budget's counters.
type BudgetStats struct {
	// Requests counts requests sent.
	Requests uint64
	// Throttled counts 429 and 418 answers (each paused the budget);
	// Banned counts the 418s among them.
	Throttled uint64
	Banned    uint64
	// PausedUntil is the end of the current pause; zero when not paused.
	PausedUntil time.Time
}

// Budget is one exchange's REST request budget, shared by every REST call
// to that exchange: a token bucket of request cost, and a pause of the
// whole budget when the exchange answers 429 (rate limit) or 418 (IP ban),
// for the answer's Retry-After (seconds or an HTTP date) or a default.
// Its Transport wraps an http.RoundTripper. It is safe for concurrent use.
type Budget struct {
	cfg BudgetConfig
	lim *rate.Limiter

	requests  atomic.Uint64
	throttled atomic.Uint64
	banned    atomic.Uint64

	mu          sync.Mutex // guards pausedUntil and resumed
	pausedUntil time.Time
	resumed     chan struct{} // closed and replaced when a pause is set
}

// NewBudget returns a Budget for cfg.
func NewBudget(cfg BudgetConfig) *Budget {
	if cfg.PauseOn429 <= 0 {
		cfg.PauseOn429 = time.Minute
	}
	if cfg.PauseOn418 <= 0 {
		cfg.PauseOn418 = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	lim := rate.NewLimiter(rate.Inf, 0)
	if cfg.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.Rate), max(cfg.Burst, 1))
	}
	return &Budget{cfg: cfg, lim: lim, resumed: make(chan struct{})}
}

// Stats returns a snapshot of the counters.
func (b *Budget) Stats() BudgetStats {
	b.mu.Lock()
	until := b.pausedUntil
	b.mu.Unlock()
	if !until.After(b.cfg.Now()) {
		until = time.Time{}
	}
	return BudgetStats{Requests: b.requests.Load(), Throttled: b.throttled.Load(), Banned: b.banned.Load(), PausedUntil: until}
}

// Pause stops every request of the budget until now+d (a longer pause
// already set stays).
func (b *Budget) Pause(d time.Duration) {
	until := b.cfg.Now().Add(d)
	b.mu.Lock()
	defer b.mu.Unlock()
	if until.After(b.pausedUntil) {
		b.pausedUntil = until
		close(b.resumed)
		b.resumed = make(chan struct{})
	}
}

// Wait blocks until a request of the given cost may be sent: after any
// pause, and when the bucket holds the tokens. It returns ctx.Err() when
// ctx ends first.
func (b *Budget) Wait(ctx context.Context, cost int) error {
	cost = max(cost, 1)
	if b.lim.Burst() > 0 && cost > b.lim.Burst() {
		cost = b.lim.Burst()
	}
	for {
		if err := b.waitPause(ctx); err != nil {
			return err
		}
		if err := b.lim.WaitN(ctx, cost); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		// A pause may have been set while waiting for tokens (another
		// request was throttled): honour it before sending.
		b.mu.Lock()
		paused := b.pausedUntil.After(b.cfg.Now())
		b.mu.Unlock()
		if !paused {
			return nil
		}
	}
}

// waitPause blocks until the current pause (if any) is over.
func (b *Budget) waitPause(ctx context.Context) error {
	for {
		b.mu.Lock()
		d := b.pausedUntil.Sub(b.cfg.Now())
		changed := b.resumed
		b.mu.Unlock()
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// observe pauses the budget after a 429 or 418 answer.
func (b *Budget) observe(resp *http.Response) {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		b.throttled.Add(1)
		b.Pause(b.retryAfter(resp.Header.Get("Retry-After"), b.cfg.PauseOn429))
	case http.StatusTeapot:
		b.throttled.Add(1)
		b.banned.Add(1)
		b.Pause(b.retryAfter(resp.Header.Get("Retry-After"), b.cfg.PauseOn418))
	}
}

// retryAfter reads Retry-After: delay-seconds or an HTTP date (RFC 9110
// 10.2.3); def when missing, unreadable or not positive.
func (b *Budget) retryAfter(h string, def time.Duration) time.Duration {
	if d, ok := RetryAfter(h, b.cfg.Now()); ok && d > 0 && d < 7*24*time.Hour {
		return d
	}
	return def
}

// Transport returns an http.RoundTripper that sends each request through
// base (http.DefaultTransport when nil) within the budget.
func (b *Budget) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &budgetTransport{b: b, base: base}
}

type budgetTransport struct {
	b    *Budget
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	cost := 1
	if t.b.cfg.Cost != nil {
		cost = t.b.cfg.Cost(req)
	}
	if err := t.b.Wait(req.Context(), cost); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	t.b.requests.Add(1)
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	t.b.observe(resp)
	return resp, nil
}

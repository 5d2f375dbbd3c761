package backoff

import (
	"math/rand/v2"
	"testing"
	"time"
)

func constant(r float64) func() float64 { return func() float64 { return r } }

func TestDelay(t *testing.T) {
	equal := Policy{Min: time.Second, Max: 10 * time.Second, Jitter: Jitter{Below: 0.5}}
	spread := Policy{Min: 5 * time.Second, Max: time.Minute, Jitter: Jitter{Below: 0.2, Above: 0.2}}
	plain := Policy{Min: time.Second, Max: 5 * time.Minute}
	tests := []struct {
		name    string
		p       Policy
		attempt int
		rand    float64
		want    time.Duration
	}{
		{name: "first, lowest draw", p: equal, attempt: 0, rand: 0, want: 500 * time.Millisecond},
		{name: "first, middle draw", p: equal, attempt: 0, rand: 0.5, want: 750 * time.Millisecond},
		{name: "first, near highest draw", p: equal, attempt: 0, rand: 0.999, want: 999500 * time.Microsecond},
		{name: "doubles per attempt", p: equal, attempt: 2, rand: 0, want: 2 * time.Second},
		{name: "base capped, still jittered below the cap", p: equal, attempt: 4, rand: 0, want: 5 * time.Second},
		{name: "base capped, highest draw is the cap", p: equal, attempt: 4, rand: 0.9999999999, want: 10 * time.Second},
		{name: "huge attempt does not overflow", p: equal, attempt: 5000, rand: 0.5, want: 7500 * time.Millisecond},
		{name: "negative attempt is the first", p: equal, attempt: -3, rand: 0.5, want: 750 * time.Millisecond},
		{name: "symmetric, middle draw is the base", p: spread, attempt: 0, rand: 0.5, want: 5 * time.Second},
		{name: "symmetric, lowest draw", p: spread, attempt: 0, rand: 0, want: 4 * time.Second},
		{name: "symmetric, near highest draw", p: spread, attempt: 0, rand: 0.999, want: 5998 * time.Millisecond},
		{name: "symmetric, above the base", p: spread, attempt: 3, rand: 0.75, want: 44 * time.Second},
		{name: "symmetric, jitter above capped at max", p: Policy{Min: 5 * time.Second, Max: 45 * time.Second, Jitter: Jitter{Below: 0.2, Above: 0.2}}, attempt: 3, rand: 0.999, want: 45 * time.Second},
		{name: "symmetric, at the cap the draw spreads below it", p: spread, attempt: 4, rand: 0, want: 48 * time.Second},
		{name: "no jitter doubles exactly", p: plain, attempt: 3, rand: 0.3, want: 8 * time.Second},
		{name: "no jitter capped", p: plain, attempt: 40, rand: 0.3, want: 5 * time.Minute},
		{name: "max below min is min", p: Policy{Min: time.Second, Max: time.Millisecond}, attempt: 3, want: time.Second},
		{name: "zero min is zero", p: Policy{Max: time.Second, Jitter: Jitter{Below: 0.5}}, attempt: 3, rand: 0.5, want: 0},
		{name: "below clamped to 1", p: Policy{Min: time.Second, Max: time.Minute, Jitter: Jitter{Below: 7}}, attempt: 0, rand: 0.5, want: 500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			p.Rand = constant(tc.rand)
			if got := p.Delay(tc.attempt); got != tc.want {
				t.Errorf("Delay(%d) with draw %v = %s, want %s", tc.attempt, tc.rand, got, tc.want)
			}
		})
	}
}

// TestDelayWithinBounds draws many delays from a seeded source and checks
// each lies in its jitter interval and under the cap.
func TestDelayWithinBounds(t *testing.T) {
	tests := []struct {
		name   string
		p      Policy
		lo, hi func(base time.Duration) time.Duration
	}{
		{
			name: "equal jitter",
			p:    Policy{Min: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: Jitter{Below: 0.5}},
			lo:   func(b time.Duration) time.Duration { return b / 2 },
			hi:   func(b time.Duration) time.Duration { return b },
		},
		{
			name: "±20%",
			p:    Policy{Min: time.Second, Max: time.Minute, Jitter: Jitter{Below: 0.2, Above: 0.2}},
			lo:   func(b time.Duration) time.Duration { return b * 8 / 10 },
			hi:   func(b time.Duration) time.Duration { return b * 12 / 10 },
		},
		{
			name: "up only",
			p:    Policy{Min: 10 * time.Millisecond, Max: time.Second, Jitter: Jitter{Above: 1}},
			lo:   func(b time.Duration) time.Duration { return b },
			hi:   func(b time.Duration) time.Duration { return 2 * b },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := rand.New(rand.NewPCG(1, 2))
			p := tc.p
			p.Rand = src.Float64
			for attempt := range 12 {
				base := min(tc.p.Min<<attempt, tc.p.Max)
				lo, hi := tc.lo(base), min(tc.hi(base), tc.p.Max)
				sawLow, sawHigh := false, false
				for range 2000 {
					d := p.Delay(attempt)
					if d < lo || d > hi {
						t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, lo, hi)
					}
					// The draws must use the interval, not sit at one end.
					sawLow = sawLow || d < lo+(hi-lo)/4
					sawHigh = sawHigh || d > hi-(hi-lo)/4
				}
				if hi > lo && (!sawLow || !sawHigh) {
					t.Errorf("attempt %d: 2000 draws did not cover [%s, %s] (low quarter %v, high quarter %v)", attempt, lo, hi, sawLow, sawHigh)
				}
			}
		})
	}
}

func TestDelayDefaultRandStaysInBounds(t *testing.T) {
	p := Policy{Min: time.Second, Max: 4 * time.Second, Jitter: Jitter{Below: 0.5, Above: 0.5}}
	for range 1000 {
		if d := p.Delay(10); d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("delay %s outside [2s, 4s]", d)
		}
	}
}

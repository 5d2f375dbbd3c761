package backfill

import (
	"testing"
	"time"
)

func TestRetryDelayDoublesJittersAndCaps(t *testing.T) {
	tests := []struct {
		name    string
		attempt int
		rand    float64
		want    time.Duration
	}{
		{name: "first failure, lowest draw", attempt: 0, rand: 0, want: 500 * time.Millisecond},
		{name: "first failure, middle draw", attempt: 0, rand: 0.5, want: 750 * time.Millisecond},
		{name: "doubles per failure", attempt: 3, rand: 0, want: 4 * time.Second},
		{name: "capped, still jittered", attempt: 20, rand: 0, want: 5 * time.Second},
		{name: "capped, highest draw", attempt: 20, rand: 0.99999999999, want: 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &Filler{cfg: Config{RetryMin: time.Second, RetryMax: 10 * time.Second, Rand: func() float64 { return tc.rand }}}
			if got := f.retryDelay(tc.attempt); got != tc.want {
				t.Errorf("retryDelay(%d) with draw %v = %s, want %s", tc.attempt, tc.rand, got, tc.want)
			}
		})
	}
}

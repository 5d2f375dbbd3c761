package supervisor

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	cfg := Config{ReconnectDelay: 5 * time.Second, ReconnectDelayMax: time.Minute, Jitter: 0.2}
	cases := []struct {
		name    string
		attempt int
		r       float64
		want    time.Duration
	}{
		{"first, no jitter", 1, 0.5, 5 * time.Second},
		{"first, lowest", 1, 0, 4 * time.Second},
		{"first, near highest", 1, 0.999, 5998 * time.Millisecond},
		{"doubles", 2, 0.5, 10 * time.Second},
		{"doubles again", 3, 0.5, 20 * time.Second},
		{"jitter scales with the delay", 3, 0, 16 * time.Second},
		{"jitter above the doubled delay", 4, 0.75, 44 * time.Second},
		{"capped", 5, 0.5, time.Minute},
		{"at the cap, the jitter still spreads restarts below it", 5, 0, 48 * time.Second},
		{"huge attempt", 5000, 0.5, time.Minute},
		{"attempt 0 is treated as 1", 0, 0.5, 5 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := restartDelay(&cfg, tc.attempt, tc.r); got != tc.want {
				t.Errorf("restartDelay(%d, %v) = %s, want %s", tc.attempt, tc.r, got, tc.want)
			}
		})
	}
}

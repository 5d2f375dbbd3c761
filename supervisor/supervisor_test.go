package supervisor

import (
	"strings"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{name: "defaults", cfg: Config{}},
		{name: "negative interval", cfg: Config{HealthCheckInterval: -time.Second}, want: "DEFAULT_HEALTH_CHECK_INTERVAL"},
		{name: "cap below the first delay", cfg: Config{ReconnectDelay: time.Minute, ReconnectDelayMax: time.Second}, want: "RECONNECT_DELAY_MAX"},
		{name: "shutdown shorter than a stop", cfg: Config{StopTimeout: time.Minute, ShutdownTimeout: 30 * time.Second}, want: "COLLECTOR_STOP_TIMEOUT"},
		{name: "jitter out of range", cfg: Config{Jitter: 1.5}, want: "jitter"},
		{name: "negative attempts", cfg: Config{MaxReconnectAttempts: -1}, want: "MAX_RECONNECT_ATTEMPTS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, newFactory().build, newRegistry(), &fakeHistory{})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New = %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New = %v, want an error naming %s", err, tc.want)
			}
		})
	}
	if _, err := New(Config{}, nil, newRegistry(), &fakeHistory{}); err == nil {
		t.Error("New without a factory succeeded")
	}
}

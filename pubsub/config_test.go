package pubsub

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"marketetl/dbtest"
)

func redisURL() string { return dbtest.RedisURL() }

func TestNewRejectsBadConfig(t *testing.T) {
	const password = "hunter2-secret"
	tests := []struct {
		name string
		cfg  Config
		// want are fragments of the error.
		want []string
	}{
		{name: "invalid port, password redacted", cfg: Config{URL: "redis://user:" + password + "@127.0.0.1:notaport/0"}, want: []string{"REDIS_URL", "xxxxx", "127.0.0.1"}},
		{name: "unparsable URL, password redacted", cfg: Config{URL: "redis://:" + password + "@host:6379/0\x7f"}, want: []string{"REDIS_URL", "xxxxx"}},
		{name: "wrong scheme", cfg: Config{URL: "http://:" + password + "@127.0.0.1:6379"}, want: []string{"REDIS_URL", "http://:xxxxx@127.0.0.1:6379", "scheme"}},
		{name: "bad database", cfg: Config{URL: "redis://127.0.0.1:6379/x"}, want: []string{"REDIS_URL", "database"}},
		{name: "glob in prefix", cfg: Config{ChannelPrefix: "md*"}, want: []string{"REDIS_CHANNEL_PREFIX", `"md*"`}},
		{name: "prefix ends with a colon", cfg: Config{ChannelPrefix: "md:"}, want: []string{"REDIS_CHANNEL_PREFIX"}},
		{name: "negative sizes", cfg: Config{BatchSize: -1, QueueSize: -5}, want: []string{"batch size -1", "queue size -5"}},
		{name: "negative stream length", cfg: Config{StreamMaxLen: -1}, want: []string{"REDIS_STREAM_MAXLEN"}},
		{name: "retry bounds", cfg: Config{RetryMin: time.Second, RetryMax: time.Millisecond}, want: []string{"maximum retry delay"}},
		{name: "negative interval", cfg: Config{FlushInterval: -time.Second}, want: []string{"flush interval"}},
		{name: "client name with a space", cfg: Config{ClientName: "market etl"}, want: []string{"client name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			if err == nil {
				t.Fatalf("New(%+v) succeeded, want an error", tt.cfg)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, password) {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}

func TestNewAcceptsURLForms(t *testing.T) {
	tests := []struct{ name, url string }{
		{"default", ""},
		{"password and database", "redis://:pw@127.0.0.1:6379/2"},
		{"user and password", "redis://app:pw@127.0.0.1:6379/0"},
		{"TLS", "rediss://:pw@redis.example:6380/0"},
		{"unix socket", "unix:///run/redis.sock?db=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// New does not connect: nothing to close.
			if _, err := New(Config{URL: tt.url}, nil); err != nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no password", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"password", "redis://:pw@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"user and password", "rediss://app:pw@h:6380/1", "rediss://app:xxxxx@h:6380/1"},
		{"unparsable", "redis://:p w@h:x/0\x7f", "redis://xxxxx@h:x/0\x7f"},
		{"unparsable without scheme", "p@ss@h\x7f", "(unparsable URL, not shown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactURL(tt.in); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg := Config{}.withDefaults()
	want := Config{
		URL: "redis://127.0.0.1:6379/0", ChannelPrefix: "md", BatchSize: 500,
		QueueSize: 100_000, ClientName: "marketetl-publisher", DialTimeout: 2 * time.Second, IOTimeout: 2 * time.Second,
		RetryMin: 100 * time.Millisecond, RetryMax: 5 * time.Second, ShutdownTimeout: time.Second,
	}
	if cfg.OnPublish != nil {
		t.Fatal("defaults set OnPublish")
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults %+v, want %+v", cfg, want)
	}
}

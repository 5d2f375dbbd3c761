package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lookupFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load(lookupFrom(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxSilence != 300*time.Second || cfg.HealthCheckInterval != 30*time.Second || cfg.ReconnectDelay != 5*time.Second || cfg.MaxReconnectAttempts != 5 {
		t.Errorf("supervisor defaults: %+v", cfg)
	}
	if cfg.RedisChannelPrefix != "md" || cfg.AdminAddr != "127.0.0.1:8080" || cfg.LogLevel != "info" {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.OKXBusinessWS != "wss://ws.okx.com:8443/ws/v5/business" || cfg.BinanceWS != "wss://stream.binance.com:9443" {
		t.Errorf("endpoint defaults: %+v", cfg)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
		hide string
	}{
		{name: "duration seconds ok", env: map[string]string{"MAX_SILENCE_DURATION": "300"}},
		{name: "duration go ok", env: map[string]string{"MAX_SILENCE_DURATION": "5m"}},
		{name: "bad duration", env: map[string]string{"MAX_SILENCE_DURATION": "soon"}, want: []string{"MAX_SILENCE_DURATION"}},
		{name: "bad int", env: map[string]string{"STORE_BATCH_SIZE": "many"}, want: []string{"STORE_BATCH_SIZE", "whole number"}},
		{name: "int out of range", env: map[string]string{"STORE_BATCH_SIZE": "0"}, want: []string{"STORE_BATCH_SIZE", "out of range"}},
		{name: "bad level", env: map[string]string{"LOG_LEVEL": "loud"}, want: []string{"LOG_LEVEL"}},
		{name: "bad scheme", env: map[string]string{"BINANCE_WS_URL": "http://x"}, want: []string{"BINANCE_WS_URL", "scheme"}},
		{name: "database url scheme hides password", env: map[string]string{"DATABASE_URL": "mysql://u:hunter2secret@h/db"}, want: []string{"DATABASE_URL"}, hide: "hunter2secret"},
		{name: "unparsable redis url hides value", env: map[string]string{"REDIS_URL": "redis://u:pa%zzss@h"}, want: []string{"REDIS_URL"}, hide: "pa%zzss"},
		{name: "several at once", env: map[string]string{"LOG_LEVEL": "x", "STORE_QUEUE_SIZE": "y"}, want: []string{"LOG_LEVEL", "STORE_QUEUE_SIZE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(lookupFrom(tc.env))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error naming %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.hide != "" && strings.Contains(err.Error(), tc.hide) {
				t.Errorf("error %q reveals the secret", err)
			}
		})
	}
}

// TestEnvTemplateMatchesCode keeps env.template in step with the variables
// the code reads: every variable, with its default.
func TestEnvTemplateMatchesCode(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "env.template"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), "# ")
		if k, v, ok := strings.Cut(l, "="); ok && k != "" && !strings.Contains(k, " ") {
			lines[k] = v
		}
	}
	for _, v := range Variables() {
		got, ok := lines[v.Name]
		if !ok {
			t.Errorf("env.template lacks %s", v.Name)
			continue
		}
		if v.Default != "" && got != v.Default {
			t.Errorf("env.template: %s=%s, code default %s", v.Name, got, v.Default)
		}
	}
	if t.Failed() {
		t.Log("regenerate it with: go run ./cmd/etl env > env.template")
	}
}

// TestReadmeDocumentsEveryVariable keeps the README's configuration table
// in step with the code.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	if err := WriteMarkdown(&want); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), want.String()) {
		t.Error("README.md's configuration table differs from the code: regenerate it with: go run ./cmd/etl env --markdown")
	}
}

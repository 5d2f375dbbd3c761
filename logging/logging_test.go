package logging

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "console", cfg: Config{Level: "info", Format: "console"}},
		{name: "json", cfg: Config{Level: "debug", Format: "json"}},
		{name: "bad level", cfg: Config{Level: "loud", Format: "json"}, wantErr: "LOG_LEVEL"},
		{name: "bad format", cfg: Config{Level: "info", Format: "xml"}, wantErr: "LOG_FORMAT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, closeFn, err := New(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error naming %s, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("x")
			_ = closeFn()
		})
	}
}

func TestLogDirWritesJSONLinesAtTheLevel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	log, closeFn, err := New(Config{Level: "warn", Format: "console", Dir: dir, MaxFiles: 2, Cleanup: true})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("below the level")
	log.Warn("kept", zapString("collector", "okx-main"))
	if err := closeFn(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "etl.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines in the log file, want 1: %q", len(lines), data)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("log line is not JSON: %v", err)
	}
	if rec["msg"] != "kept" || rec["collector"] != "okx-main" {
		t.Errorf("log line %v", rec)
	}
}

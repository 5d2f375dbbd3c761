package main

import (
	"strings"
	"testing"
)

// TestHelpFlagExitsZero: asking a command for its flags is not a mistake.
func TestHelpFlagExitsZero(t *testing.T) {
	for _, cmd := range []string{"run", "demo", "sim", "tail", "backfill", "bench"} {
		var stdout, stderr syncBuffer
		if code := run(t.Context(), []string{cmd, "--help"}, &stdout, &stderr); code != 0 {
			t.Errorf("etl %s --help: exit %d, want 0; stderr:\n%s", cmd, code, stderr.String())
		}
	}
	// migrate and env take no flag set: their help must neither touch the
	// database (DATABASE_URL points nowhere here) nor be a usage error.
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	for _, cmd := range []string{"migrate", "env"} {
		for _, flag := range []string{"--help", "-h"} {
			var stdout, stderr syncBuffer
			if code := run(t.Context(), []string{cmd, flag}, &stdout, &stderr); code != 0 {
				t.Errorf("etl %s %s: exit %d, want 0; stderr:\n%s", cmd, flag, code, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), "Usage: etl "+cmd) {
				t.Errorf("etl %s %s printed %q, want its usage", cmd, flag, stdout.String())
			}
		}
	}
	var stdout, stderr syncBuffer
	if code := run(t.Context(), []string{"demo", "--no-such-flag"}, &stdout, &stderr); code != 2 {
		t.Errorf("etl demo --no-such-flag: exit %d, want 2", code)
	}
}

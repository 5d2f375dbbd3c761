package main

import "testing"

// TestHelpFlagExitsZero: asking a command for its flags is not a mistake.
func TestHelpFlagExitsZero(t *testing.T) {
	for _, cmd := range []string{"run", "demo", "sim", "tail", "backfill", "bench"} {
		var stdout, stderr syncBuffer
		if code := run(t.Context(), []string{cmd, "--help"}, &stdout, &stderr); code != 0 {
			t.Errorf("etl %s --help: exit %d, want 0; stderr:\n%s", cmd, code, stderr.String())
		}
	}
	var stdout, stderr syncBuffer
	if code := run(t.Context(), []string{"demo", "--no-such-flag"}, &stdout, &stderr); code != 2 {
		t.Errorf("etl demo --no-such-flag: exit %d, want 2", code)
	}
}

package main

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestGCPercent(t *testing.T) {
	if p, ok := gcPercent(env(nil)); !ok || p != defaultGCPercent {
		t.Errorf("GOGC unset: gcPercent = %d, %v; want %d, true", p, ok, defaultGCPercent)
	}
	for _, v := range []string{"100", "off", ""} {
		if p, ok := gcPercent(env(map[string]string{"GOGC": v})); ok {
			t.Errorf("GOGC=%q: gcPercent = %d, true; want the runtime's own setting left alone", v, p)
		}
	}
}

// TestTuneGC sets the process's GC settings, and restores them.
func TestTuneGC(t *testing.T) {
	for _, k := range []string{"GOMEMLIMIT", "AUTOMEMLIMIT"} {
		if _, ok := os.LookupEnv(k); ok {
			t.Skipf("%s is set in the test's environment", k)
		}
	}
	oldPercent, oldLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) })

	const container = 1000 << 20
	tuneGC(env(nil), memlimit.Limit(container))
	percent, limit := gcSettings()
	if percent != defaultGCPercent || limit != int64(container*memoryLimitRatio) {
		t.Errorf("GOGC unset, a %d-byte container: GC target %d, memory limit %d; want %d and %d",
			container, percent, limit, defaultGCPercent, int64(container*memoryLimitRatio))
	}

	debug.SetGCPercent(100)
	tuneGC(env(map[string]string{"GOGC": "100"}), memlimit.Limit(container))
	if percent, _ := gcSettings(); percent != 100 {
		t.Errorf("GOGC=100: GC target %d, want GOGC's 100 left alone", percent)
	}
}

package main

import "testing"

func TestGCPercent(t *testing.T) {
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	if p, ok := gcPercent(env(nil)); !ok || p != defaultGCPercent {
		t.Errorf("GOGC unset: gcPercent = %d, %v; want %d, true", p, ok, defaultGCPercent)
	}
	if got, want := gcTarget(env(nil)), "400 (the etl default; GOGC is unset)"; got != want {
		t.Errorf("GOGC unset: gcTarget = %q, want %q", got, want)
	}
	for _, v := range []string{"100", "off", ""} {
		if p, ok := gcPercent(env(map[string]string{"GOGC": v})); ok {
			t.Errorf("GOGC=%q: gcPercent = %d, true; want the runtime's own setting left alone", v, p)
		}
		if got, want := gcTarget(env(map[string]string{"GOGC": v})), v+" (GOGC)"; got != want {
			t.Errorf("GOGC=%q: gcTarget = %q, want %q", v, got, want)
		}
	}
}

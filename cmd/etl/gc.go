package main

import (
	"runtime/debug"
	"strconv"
)

// defaultGCPercent is the garbage collector's target the etl binary runs
// with when the environment does not set GOGC: the heap may grow to five
// times the live heap between collections instead of Go's default of two.
// The service's live heap is small (bounded queues, a few MB per thousand
// symbols) and it allocates a few short-lived objects per record, so with
// Go's default the collector ran often and took about a sixth of the
// process's CPU at full rate; at 400 it takes a third of that, for a
// higher peak RSS (docs/PERFORMANCE.md, "The garbage collector's target").
// GOGC, and GOMEMLIMIT for a hard memory budget, override it as in any Go
// program.
const defaultGCPercent = 400

// gcPercent returns the GC target to set and true when GOGC is not set in
// the environment that lookup reads; false leaves the runtime's own
// setting (GOGC's value, or Go's default) alone.
func gcPercent(lookup func(string) (string, bool)) (int, bool) {
	if _, set := lookup("GOGC"); set {
		return 0, false
	}
	return defaultGCPercent, true
}

// applyGCPercent sets the GC target to defaultGCPercent when GOGC is not
// set in the environment that lookup reads.
func applyGCPercent(lookup func(string) (string, bool)) {
	if p, ok := gcPercent(lookup); ok {
		debug.SetGCPercent(p)
	}
}

// gcTarget describes the GC target in effect after applyGCPercent, for
// the startup log.
func gcTarget(lookup func(string) (string, bool)) string {
	if p, ok := gcPercent(lookup); ok {
		return strconv.Itoa(p) + " (the etl default; GOGC is unset)"
	}
	v, _ := lookup("GOGC")
	return v + " (GOGC)"
}

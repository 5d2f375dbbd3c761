package main

import (
	"math"
	"runtime/debug"
	"runtime/metrics"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// defaultGCPercent is the garbage collector's target the etl binary runs
// with when the environment does not set GOGC: the heap may grow to five
// times the live heap between collections instead of Go's default of two.
// The service's live heap is small (bounded queues and per-stream state)
// and it allocates a few short-lived objects per record, so with Go's
// default the collector ran several times a second at full rate: CPU per
// record fell by about a quarter at 400, and peak RSS about doubled
// (docs/PERFORMANCE.md, "The garbage collector's target"). GOGC overrides
// it as in any Go program.
const defaultGCPercent = 400

// memoryLimitRatio is the share of a container's memory limit (cgroup
// memory.max) the binary sets as its soft memory limit when GOMEMLIMIT is
// not set, so that the larger heap of defaultGCPercent is collected
// before the container is killed for it. AUTOMEMLIMIT sets another ratio
// or turns it off.
const memoryLimitRatio = 0.9

// gcPercent returns the GC target to set and true when GOGC is not set in
// the environment that lookup reads; false leaves the runtime's own
// setting (GOGC's value, or Go's default) alone.
func gcPercent(lookup func(string) (string, bool)) (int, bool) {
	if _, set := lookup("GOGC"); set {
		return 0, false
	}
	return defaultGCPercent, true
}

// tuneGC sets the GC target (gcPercent) and, in a container with a memory
// limit, the soft memory limit (memoryLimitRatio; GOMEMLIMIT and
// AUTOMEMLIMIT as the memlimit package reads them) from limit: the
// container's limit, memlimit.FromCgroup outside tests.
func tuneGC(lookup func(string) (string, bool), limit memlimit.Provider) {
	if p, ok := gcPercent(lookup); ok {
		debug.SetGCPercent(p)
	}
	// An error means no container limit could be read (not in a cgroup,
	// or a bad AUTOMEMLIMIT): the limit stays what it was.
	_, _ = memlimit.Set(memlimit.WithProvider(limit), memlimit.WithRatio(memoryLimitRatio))
}

// gcSettings returns the runtime's GC target (GOGC's percent; -1 when
// off) and soft memory limit in bytes (0 when there is none), for the
// startup log.
func gcSettings() (percent int64, limit int64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	percent, limit = -1, 0
	if s[0].Value.Kind() == metrics.KindUint64 {
		percent = int64(s[0].Value.Uint64())
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		if n := s[1].Value.Uint64(); n < math.MaxInt64 {
			limit = int64(n)
		}
	}
	return percent, limit
}

package coinbase

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"marketetl/collector"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCPU(t *testing.T) {
	a := newTestAdapter(t)
	for _, f := range []string{"match.json", "ticker.json", "heartbeat.json"} {
		frame, _ := os.ReadFile(filepath.Join("testdata", f))
		var ev collector.Event
		const n = 300000
		best := time.Hour
		for r := 0; r < 5; r++ {
			start := cpuNow()
			for i := 0; i < n; i++ {
				ev.Reset()
				_ = a.Decode(frame, received, &ev)
			}
			if d := cpuNow() - start; d < best {
				best = d
			}
		}
		t.Logf("%s: %v/op (thread CPU time, best of 5)", f, best/n)
	}
}

package faults

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"marketetl/config"
	"marketetl/market"
	"marketetl/sim"
	"marketetl/spool"
	"marketetl/store"
)

// Scenario 23: PostgreSQL unreachable for minutes while OKX, Binance and
// Coinbase stream at production rates, with their 1-minute candles (each
// tick of the exchange, one trade per market, is 100 ms of exchange
// time). The writer's queues fill, and the spool takes every record after
// them; when the database returns the spool is replayed while the feed
// goes on. The database then holds exactly the truth, nothing twice, no
// gap open; nothing is dropped; no table queue holds more than its
// capacity; the heap stays bounded.
//
// With -long (make faults) the database is down for 2 minutes, the
// exchange ticking 3 times every 10 ms (up to 1,800 trades a second over
// the six markets, a candle closing every 2 s; the rate reached is
// reported: the race detector on a busy machine holds it to hundreds a
// second), with the production defaults
// of the writer (STORE_QUEUE_SIZE 50000, which holds the first half
// minute of trades, STORE_BATCH_SIZE 5000) and 8 MiB spool segments.
// Without it, for 3 s at 600 trades a second with queues of 500, so that
// the spool engages in make test too.
func TestPostgresDownForMinutes(t *testing.T) {
	s := newScenario(t, 23)
	if !haveSpool {
		s.skip(whySpool)
	}
	const tick = 10 * time.Millisecond
	outage, perTick := 3*time.Second, 1
	opts := rigOpts{
		exchanges:  []market.Exchange{market.OKX, market.Binance, market.Coinbase},
		spoolBytes: 1 << 30,
		store:      store.Config{QueueSize: 500, BatchSize: 250},
		sim:        func(c *sim.Config) { c.Step = 100 * time.Millisecond },
	}
	if *longFlag {
		outage, perTick = 2*time.Minute, 3
		opts.store = store.Config{}
		opts.spoolSegment = spool.DefaultSegmentBytes
	}
	r := startRig(t, opts)
	s.watch(r)
	// Every candle stream's first closed candle is stored before the
	// fault: gap detection of a candle stream starts from it.
	r.step(700)
	r.waitTruth()
	capacity := opts.store.QueueSize
	if capacity == 0 {
		def, err := config.Load(func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		capacity = def.StoreQueueSize
	}

	stop := r.burstStepper(tick, perTick)
	published := func() int { return r.count().published }
	before := published()
	r.pg.SetDown(true)
	down := time.Now()
	var peakHeap uint64
	var peakSpool int64
	maxQueued, overfull := 0, ""
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapAlloc)
		peakSpool = max(peakSpool, r.buffer.Stats().Bytes)
		for name, ts := range r.writer.Stats().Tables {
			maxQueued = max(maxQueued, ts.Queued)
			if ts.Queued > capacity && overfull == "" {
				overfull = fmt.Sprintf("%s queue held %d records, capacity %d", name, ts.Queued, capacity)
			}
		}
	}
	// The outage lasts its length: this wait is the fault, not a
	// synchronisation; the memory is sampled every second meanwhile.
	every := time.NewTicker(time.Second)
	end := time.NewTimer(outage)
	for waiting := true; waiting; {
		select {
		case <-every.C:
			sample()
		case <-end.C:
			waiting = false
		case <-r.ctx.Done():
			t.Fatal(r.ctx.Err())
		}
	}
	every.Stop()
	sample()
	st := r.buffer.Stats()
	during := published() - before
	rate := float64(during) / time.Since(down).Seconds()
	if st.Spooled == 0 || st.State != spool.StateSpooling {
		t.Fatalf("the spool did not engage while the database was down: %+v", st)
	}

	// The database returns; the feed goes on while the spool is replayed.
	r.pg.SetDown(false)
	back := time.Now()
	eventuallyWithin(t, "the spool replayed", 2*outage+waitBound, func() (bool, string) {
		sample()
		st := r.buffer.Stats()
		return st.State == spool.StateMemory && st.Bytes == 0, fmt.Sprintf("%+v", st)
	})
	replay := time.Since(back)
	stop()
	r.waitTruthWithin(waitBound + outage)
	s.finish(r, replay, 0)
	st = r.buffer.Stats()
	if st.Dropped != 0 || st.Corrupt != 0 || st.Replayed != st.Spooled {
		t.Errorf("spool: %d spooled, %d replayed, %d dropped, %d corrupt", st.Spooled, st.Replayed, st.Dropped, st.Corrupt)
	}
	if overfull != "" {
		t.Error(overfull)
	}
	if n := r.queryInt(`SELECT count(*) FROM gaps`); n != 0 {
		t.Errorf("%d gaps recorded; want none (the spool kept everything):\n%s", n, strings.Join(r.gapRows(), "\n"))
	}
	for ex, c := range r.cols {
		if cs := c.Status(); cs.Reconnects != 0 {
			t.Errorf("%s: %d reconnects while the database was down (last error %q)", ex, cs.Reconnects, cs.LastError)
		}
	}
	// Memory is bounded by the queues, not by the outage: a generous
	// bound (the race detector multiplies the heap), far below what the
	// spooled records would take in memory.
	const heapBound = 1 << 30
	if peakHeap > heapBound {
		t.Errorf("peak heap %d MiB, bound %d MiB", peakHeap>>20, heapBound>>20)
	}
	s.res.Recovery = replay
	s.res.Note = fmt.Sprintf("down %v at %.0f records/s (%d records): %d spooled (peak %.1f MiB on disk), all replayed in %v with the feed going on; fullest table queue %d; peak heap %d MiB, peak RSS %s (test process, race detector)",
		outage.Round(time.Second), rate, during, st.Spooled, float64(peakSpool)/(1<<20), replay.Round(time.Millisecond), maxQueued, peakHeap>>20, peakRSS())
	t.Log(s.res.Note)
}

// peakRSS returns the process's peak resident set size (VmHWM), or "?"
// where /proc is not there.
func peakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				return "?"
			}
			return strconv.Itoa(kb>>10) + " MiB"
		}
	}
	return "?"
}

// burstStepper is stepper with n ticks every interval.
func (r *rig) burstStepper(interval time.Duration, n int) (stop func()) {
	return r.every(interval, func(ctx context.Context) error { return r.sim.Step(ctx, n) })
}

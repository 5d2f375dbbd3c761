package faults

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"marketetl/market"
	"marketetl/spool"
	"marketetl/store"
)

// fullDisk is a disk for the spool's segments that fills up: once full,
// every write fails with ENOSPC (the bytes that still fit are written
// first, as a file system does). It opens real files in the spool's
// directory; only the room is simulated.
type fullDisk struct {
	mu      sync.Mutex
	limited bool
	room    int64
	refused int // writes that failed for lack of room
}

// fill leaves room bytes free.
func (d *fullDisk) fill(room int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.limited, d.room = true, room
}

// free makes room again.
func (d *fullDisk) free() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.limited = false
}

func (d *fullDisk) refusals() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused
}

// open is spool.Config.OpenSegment.
func (d *fullDisk) open(path string) (spool.SegmentFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	return &fullDiskFile{File: f, d: d}, nil
}

type fullDiskFile struct {
	*os.File
	d *fullDisk
}

func (f *fullDiskFile) Write(p []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if !f.d.limited || int64(len(p)) <= f.d.room {
		n, err := f.File.Write(p)
		if f.d.limited {
			f.d.room -= int64(n)
		}
		return n, err
	}
	n, err := f.File.Write(p[:f.d.room])
	f.d.room -= int64(n)
	f.d.refused++
	if err == nil {
		err = &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, err
}

// Scenario 28: the spool's disk fills up while the database is down:
// writes to the spool fail with ENOSPC. The records the disk refused, and
// those a failed write lost from the spool's write buffer, become
// per-stream spool_error gaps — none is lost silently — the service keeps
// collecting (no reconnect), and once the disk has room and the database
// is back the backfill fills every gap, so the database ends equal to the
// truth.
func TestSpoolDiskFull(t *testing.T) {
	s := newScenario(t, 28)
	if !haveSpool || !haveGapRepair {
		s.skip(whySpool + "; " + whyGapRepair)
	}
	disk := &fullDisk{}
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.OKX, market.Binance},
		store: store.Config{QueueSize: 50, BatchSize: 25}, spoolBytes: 64 << 20,
		spoolConfig: func(c *spool.Config) { c.OpenSegment = disk.open }})
	s.watch(r)
	r.warmUp()
	r.pg.SetDown(true)
	eventually(t, "records spooled to disk", func() (bool, string) {
		r.step(10)
		st := r.buffer.Stats()
		return st.Spooled > 0 && st.Bytes > 0, fmt.Sprintf("%+v", st)
	})
	disk.fill(1000) // a few records more, then ENOSPC
	eventually(t, "spooled records lost to the full disk, and records refused", func() (bool, string) {
		r.step(10)
		st := r.buffer.Stats()
		return st.WriteLost > 0 && disk.refusals() >= 3, fmt.Sprintf("%d refused writes; %+v", disk.refusals(), st)
	})
	full := r.buffer.Stats()
	disk.free()
	r.pg.SetDown(false)
	end := time.Now()
	// A hole of refused records is reported once its stream's records are
	// kept again: the exchange trades on meanwhile.
	stop := r.stepper(20 * time.Millisecond)
	eventually(t, "the spool to replay", func() (bool, string) {
		st := r.buffer.Stats()
		return st.State == spool.StateMemory && st.Bytes == 0, fmt.Sprintf("%+v", st)
	})
	stop()
	r.afterFault()
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	st := r.buffer.Stats()
	// Every window of lost records is a spool_error gap, filled (windows
	// of one stream that overlap — a forming candle's updates share its
	// open time — are merged into one row when recorded). Lost updates of
	// forming candles alone make no gap (a later update or the closed
	// candle replaces them): the database equalling the truth above is
	// what shows that no lost trade or closed candle went unreported.
	gaps := r.queryInt(`SELECT count(*) FROM gaps WHERE reason = $1 AND status = 'filled'`, string(market.GapSpoolError))
	if uint64(gaps) > st.Gaps || (st.Gaps > 0 && gaps == 0) {
		t.Errorf("%d filled spool_error gaps, the spool reported %d", gaps, st.Gaps)
	}
	if n := r.queryInt(`SELECT count(*) FROM gaps WHERE reason = $1 AND status <> 'filled'`, string(market.GapSpoolError)); n != 0 {
		t.Errorf("%d spool_error gaps not filled", n)
	}
	if n := r.queryInt(`SELECT count(*) FROM gaps WHERE reason = $1`, string(market.GapSpoolFull)); n != 0 {
		t.Errorf("%d spool_full gaps: the spool was far from its cap", n)
	}
	for ex, c := range r.cols {
		if cs := c.Status(); cs.Reconnects != 0 {
			t.Errorf("%s: %d reconnects while the spool's disk was full (last error %q)", ex, cs.Reconnects, cs.LastError)
		}
	}
	s.res.Note = fmt.Sprintf("%d writes refused with ENOSPC: %d spooled records lost from the write buffer and %d refused, in %d spool_error gaps (%d rows), all backfilled",
		disk.refusals(), full.WriteLost, st.Dropped, st.Gaps, gaps)
}

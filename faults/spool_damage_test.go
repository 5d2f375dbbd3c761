package faults

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"marketetl/market"
	"marketetl/spool"
	"marketetl/store"
)

// spoolMarker starts every frame of a spool segment (package spool,
// frame.go): marker, payload length (uint32 LE), CRC, payload.
var spoolMarker = []byte{0xE7, 0x5C, 0x1A, 0xD0}

// damageFrame flips one byte in the middle of the payload of the nth
// frame (from 0) of the spool's second-to-last segment (sealed, and not
// yet read by the replay, which holds the first), and returns the segment.
func damageFrame(t *testing.T, dir string, nth int) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.spool"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("%d spool segments in %s, want 3 or more: %v", len(segs), dir, err)
	}
	sort.Strings(segs)
	seg := segs[len(segs)-2]
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for i := 0; ; i++ {
		if off+12 > len(data) || string(data[off:off+4]) != string(spoolMarker) {
			t.Fatalf("%s: no frame %d at offset %d", seg, i, off)
		}
		n := int(binary.LittleEndian.Uint32(data[off+4:]))
		if i == nth {
			data[off+12+n/2] ^= 0xFF
			break
		}
		off += 12 + n
	}
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data[off+12:off+12+int(binary.LittleEndian.Uint32(data[off+4:]))], int64(off+12)); err != nil {
		t.Fatal(err)
	}
	return seg
}

// Scenario 20: a record in the spool is damaged on disk (one byte of its
// payload flipped) while the database is down: replay skips exactly that
// record, records a spool_corrupt gap for its stream and time bounds, and
// the backfill repairs it, so the database ends equal to the truth.
func TestCorruptSpool(t *testing.T) {
	s := newScenario(t, 20)
	if !haveSpool || !haveGapRepair {
		s.skip(whySpool + "; " + whyGapRepair)
	}
	r := spoolSegments(t, s)
	seg := damageFrame(t, r.spoolDir, 10)
	// The segment's index (written when it was sealed) names its streams
	// and their time bounds: the gaps the damage must leave.
	want := indexGaps(t, seg)
	r.pg.SetDown(false)
	end := time.Now()
	// The hole is noticed by the records after it: the exchange trades on.
	stop := r.stepper(20 * time.Millisecond)
	eventually(t, "the spool to replay past the damaged record", func() (bool, string) {
		st := r.buffer.Stats()
		return st.State == spool.StateMemory && st.Bytes == 0 && st.Corrupt > 0, fmt.Sprintf("%+v", st)
	})
	stop()
	r.afterFault()
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	st := r.buffer.Stats()
	if st.Corrupt != 1 {
		t.Errorf("%d corrupt records skipped, want the 1 damaged", st.Corrupt)
	}
	// Which stream the damaged record was of is lost with it: the spool
	// records one gap per stream of the segment's index, bounded by the
	// segment's times, and the backfill fills each.
	gaps := r.strings(`SELECT concat_ws(' ', exchange, symbol, data_type, to_char(from_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
		to_char(to_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), status) FROM gaps WHERE reason = $1 ORDER BY 1`, string(market.GapSpoolCorrupt))
	diff(t, "spool_corrupt gaps (stream, bounds, status)", want, gaps)
	if st.CorruptGaps != uint64(len(want)) {
		t.Errorf("the spool counted %d corrupt gaps, want %d", st.CorruptGaps, len(want))
	}
	s.res.Note = fmt.Sprintf("%d damaged record skipped; %d spool_corrupt gaps (one per stream of its segment), all filled by the backfill", st.Corrupt, len(gaps))
}

// segmentFrames returns the offset and payload length of every frame of
// the spool segment data.
func segmentFrames(t *testing.T, seg string, data []byte) (offs, lens []int) {
	t.Helper()
	for off := 0; off < len(data); {
		if off+12 > len(data) || string(data[off:off+4]) != string(spoolMarker) {
			t.Fatalf("%s: no frame at offset %d", seg, off)
		}
		n := int(binary.LittleEndian.Uint32(data[off+4:]))
		offs, lens = append(offs, off), append(lens, n)
		off += 12 + n
	}
	return offs, lens
}

// indexGaps returns the gaps a damaged spool segment must leave: one per
// stream of its index (written when it was sealed), bounded by the
// stream's first and last record in the segment, a microsecond (the
// gaps table's precision) outside them, as "exchange symbol type from to
// filled".
func indexGaps(t *testing.T, seg string) []string {
	t.Helper()
	idx, err := os.ReadFile(strings.TrimSuffix(seg, ".spool") + ".idx")
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Exchange, Symbol, Type string
		From, To               time.Time
	}
	if err := json.Unmarshal(idx, &entries); err != nil {
		t.Fatalf("index of %s: %v", seg, err)
	}
	var want []string
	for _, e := range entries {
		want = append(want, fmt.Sprintf("%s %s %s %s %s filled", e.Exchange, e.Symbol, e.Type,
			e.From.Add(-time.Microsecond).UTC().Format("2006-01-02T15:04:05.000000"), e.To.Add(time.Microsecond).UTC().Format("2006-01-02T15:04:05.000000")))
	}
	sort.Strings(want)
	return want
}

// Scenario 27: a spool segment is cut in the middle of a record, as a
// crash during a write leaves it, while the database is down. The replay
// stops cleanly at the torn record: every record before it is stored, the
// torn part (that record and the rest of the segment) becomes one
// spool_corrupt gap per stream of the segment's index, with its bounds,
// and the backfill fills each, so the database ends equal to the truth.
func TestTornSpool(t *testing.T) {
	s := newScenario(t, 27)
	if !haveSpool || !haveGapRepair {
		s.skip(whySpool + "; " + whyGapRepair)
	}
	r := spoolSegments(t, s)
	// The second-to-last segment: sealed, and not yet read by the replay.
	segs, err := filepath.Glob(filepath.Join(r.spoolDir, "*.spool"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("%d spool segments: %v", len(segs), err)
	}
	sort.Strings(segs)
	seg := segs[len(segs)-2]
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	offs, lens := segmentFrames(t, seg, data)
	torn := len(offs) / 2
	if torn == 0 {
		t.Fatalf("%s holds %d records", seg, len(offs))
	}
	if err := os.Truncate(seg, int64(offs[torn]+12+lens[torn]/2)); err != nil {
		t.Fatal(err)
	}
	lost := len(offs) - torn
	want := indexGaps(t, seg)
	r.pg.SetDown(false)
	end := time.Now()
	// The hole is noticed by the records after it: the exchange trades on.
	stop := r.stepper(20 * time.Millisecond)
	eventually(t, "the spool to replay past the torn segment", func() (bool, string) {
		st := r.buffer.Stats()
		return st.State == spool.StateMemory && st.Bytes == 0 && st.CorruptGaps > 0, fmt.Sprintf("%+v", st)
	})
	stop()
	r.afterFault()
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	st := r.buffer.Stats()
	// Everything before the torn record was replayed, nothing after it,
	// nothing counted as damaged in between.
	if st.Replayed != st.Spooled-uint64(lost) || st.Corrupt != 0 || st.Unreadable != 0 {
		t.Errorf("spool: %d spooled, %d replayed (want all but the %d torn off), %d corrupt, %d unreadable",
			st.Spooled, st.Replayed, lost, st.Corrupt, st.Unreadable)
	}
	gaps := r.strings(`SELECT concat_ws(' ', exchange, symbol, data_type, to_char(from_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
		to_char(to_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), status) FROM gaps WHERE reason = $1 ORDER BY 1`, string(market.GapSpoolCorrupt))
	diff(t, "spool_corrupt gaps (stream, bounds, status)", want, gaps)
	if st.CorruptGaps != uint64(len(want)) {
		t.Errorf("the spool counted %d corrupt gaps, want %d", st.CorruptGaps, len(want))
	}
	s.res.Note = fmt.Sprintf("segment cut in record %d of %d: %d records before it replayed, %d torn off; %d spool_corrupt gaps (one per stream of its segment), all filled by the backfill",
		torn+1, len(offs), st.Replayed, lost, len(gaps))
}

// spoolSegments starts OKX and Binance with a small writer queue, then
// takes the database down until the spool holds three segments, for the
// scenarios that damage one (20, 27). The database stays down.
func spoolSegments(t *testing.T, s *scenario) *rig {
	t.Helper()
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.OKX, market.Binance},
		store: store.Config{QueueSize: 50, BatchSize: 25}, spoolBytes: 64 << 20})
	s.watch(r)
	r.step(10)
	r.waitTruth()
	r.pg.SetDown(true)
	eventually(t, "three spool segments", func() (bool, string) {
		r.step(50)
		st := r.buffer.Stats()
		return st.Segments >= 3, fmt.Sprintf("%+v", st)
	})
	return r
}

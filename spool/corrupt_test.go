package spool

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

// ethTrade is trade i of a second stream, 10 s after trade(i).
func ethTrade(i int) *market.Trade {
	t := trade(i)
	t.Symbol = "ETH-USDT"
	t.Time = t.Time.Add(10 * time.Second)
	return t
}

// window is the gap a damaged segment holding records first..last of a
// stream reports: a microsecond (the gaps table's precision) on each side.
func window(s market.Stream, first, last market.Record) market.Gap {
	return market.Gap{Stream: s, From: first.Header().Time.Add(-time.Microsecond), To: last.Header().Time.Add(time.Microsecond),
		Reason: market.GapSpoolCorrupt}
}

func checkCorruptGaps(t *testing.T, got []market.Gap, want ...market.Gap) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d gaps %v, want %d %v", len(got), got, len(want), want)
	}
	for i, g := range got {
		if g.Detected.IsZero() {
			t.Errorf("gap %d: Detected not set", i)
		}
		g.Detected = time.Time{}
		if g != want[i] {
			t.Errorf("gap %d:\n got %v\nwant %v", i, g, want[i])
		}
	}
}

// replayOne replays the oldest segment of the spool in dir into a list
// writer and returns the buffer, the writer and the gaps reported.
func replayOne(t *testing.T, dir string) (*Buffer, *listWriter, []market.Gap) {
	t.Helper()
	return replayOneAfter(t, dir, func() {})
}

// replayOneAfter is replayOne that calls before once the segment is chosen.
func replayOneAfter(t *testing.T, dir string, before func()) (*Buffer, *listWriter, []market.Gap) {
	t.Helper()
	sp := openSpool(t, Config{Dir: dir})
	w, gaps := &listWriter{}, &gapLog{}
	b, err := NewBuffer(BufferConfig{Gaps: gaps}, sp, w, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	no, ok, err := b.next()
	if err != nil || !ok {
		t.Fatalf("oldest segment: %d, %t, %v", no, ok, err)
	}
	before()
	if err := b.replaySegment(t.Context(), no); err != nil {
		t.Fatal(err)
	}
	return b, w, gaps.all()
}

// fillSegment appends trades 0..9 of BTC-USDT and ETH-USDT, interleaved,
// to a spool in dir and closes it; it returns the frame offsets.
func fillSegment(t *testing.T, dir string) {
	t.Helper()
	sp, err := Open(Config{Dir: dir}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		for _, rec := range []market.Record{trade(i), ethTrade(i)} {
			if err := sp.Append(rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}

// damage flips a payload byte of frame k of segment 1 in dir.
func damage(t *testing.T, dir string, k int) {
	t.Helper()
	p := filepath.Join(dir, "000001.spool")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[int(frameSize(t))*k+headerLen+5] ^= 0xFF
	if err := os.WriteFile(p, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedRecordIsAGap: a record that fails its CRC is skipped and the
// windows of the segment's streams, from its index, are reported as
// spool_corrupt gaps, so that the backfill repairs them.
func TestDamagedRecordIsAGap(t *testing.T) {
	tests := []struct {
		name string
		// crash drops the index written at Close, as a crash before the
		// seal would: Open rebuilds it from the intact records.
		crash bool
	}{
		{name: "index written at close"},
		{name: "index rebuilt after a crash", crash: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fillSegment(t, dir)
			if tc.crash {
				if err := os.Remove(filepath.Join(dir, "000001"+indexExt)); err != nil {
					t.Fatal(err)
				}
			}
			damage(t, dir, 7) // ethTrade(3)
			b, w, gaps := replayOne(t, dir)
			btc, eth := trade(0).Stream(), ethTrade(0).Stream()
			checkCorruptGaps(t, gaps, window(btc, trade(0), trade(9)), window(eth, ethTrade(0), ethTrade(9)))
			if st := b.Stats(); st.Corrupt != 1 || st.CorruptGaps != 2 || st.Replayed != 19 || len(w.ids) != 19 {
				t.Errorf("stats %+v, %d written: want 1 corrupt, 2 gaps, 19 replayed", st, len(w.ids))
			}
			if _, err := os.Stat(filepath.Join(dir, "000001"+indexExt)); !os.IsNotExist(err) {
				t.Errorf("index of the replayed segment: %v, want it removed", err)
			}
		})
	}
}

// TestUndecodableRecordIsAGap: a record with a valid CRC that cannot be
// decoded (an unknown codec version) is a gap too.
func TestUndecodableRecordIsAGap(t *testing.T) {
	dir := t.TempDir()
	sp, err := Open(Config{Dir: dir}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(trade(0)); err != nil {
		t.Fatal(err)
	}
	payload, err := encode(nil, trade(1))
	if err != nil {
		t.Fatal(err)
	}
	payload[0] = codecVersion + 1
	sp.mu.Lock()
	sp.activeIdx.add(trade(1))
	_, err = sp.bw.Write(appendFrame(nil, payload))
	sp.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(trade(2)); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	b, _, gaps := replayOne(t, dir)
	checkCorruptGaps(t, gaps, window(trade(0).Stream(), trade(0), trade(2)))
	if st := b.Stats(); st.Corrupt != 1 || st.Replayed != 2 {
		t.Errorf("stats %+v: want 1 corrupt, 2 replayed", st)
	}
}

// TestUnreadableSegmentIsAGap: a segment that cannot be read is set aside
// and its streams' windows, from its index, are reported as gaps.
func TestUnreadableSegmentIsAGap(t *testing.T) {
	dir := t.TempDir()
	fillSegment(t, dir)
	b, w, gaps := replayOneAfter(t, dir, func() {
		if err := os.Remove(filepath.Join(dir, "000001.spool")); err != nil {
			t.Fatal(err)
		}
	})
	checkCorruptGaps(t, gaps, window(trade(0).Stream(), trade(0), trade(9)), window(ethTrade(0).Stream(), ethTrade(0), ethTrade(9)))
	if st := b.Stats(); st.Unreadable != 1 || st.CorruptGaps != 2 || len(w.ids) != 0 {
		t.Errorf("stats %+v, %d written: want 1 unreadable segment, 2 gaps", st, len(w.ids))
	}
}

// TestIntactReplayReportsNoGap: an undamaged segment reports nothing.
func TestIntactReplayReportsNoGap(t *testing.T) {
	dir := t.TempDir()
	fillSegment(t, dir)
	b, w, gaps := replayOne(t, dir)
	if len(gaps) != 0 || b.Stats().CorruptGaps != 0 || len(w.ids) != 20 {
		t.Errorf("gaps %v, %d written: want none and 20", gaps, len(w.ids))
	}
}

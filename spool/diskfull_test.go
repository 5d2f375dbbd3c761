package spool

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

// noRoomFile is a segment file on a disk with no room left.
type noRoomFile struct{ *os.File }

func (f noRoomFile) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

// TestDiskFullLosesNothingSilently: records spooled into the write buffer
// while the disk is full are lost when the buffer is written out; each
// stream's window of them is reported as a spool_error gap, with a
// microsecond on each side, and counted as write-lost.
func TestDiskFullLosesNothingSilently(t *testing.T) {
	sp := openSpool(t, Config{Dir: t.TempDir(), OpenSegment: func(path string) (SegmentFile, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o640)
		if err != nil {
			return nil, err
		}
		return noRoomFile{f}, nil
	}})
	gaps := &gapLog{}
	b, err := NewBuffer(BufferConfig{Gaps: gaps}, sp, &listWriter{full: true}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// A candle still forming is not data the backfill can fetch: losing
	// its updates makes no gap (the update that closes it would).
	forming := &market.Candle{Meta: trade(0).Meta, Timeframe: market.TF1m, Open: dec("1"), High: dec("1"), Low: dec("1"), Close: dec("1"), Volume: dec("1")}
	if err := b.Write(t.Context(), forming); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		for _, rec := range []market.Record{trade(i), ethTrade(i)} {
			if err := b.Write(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := sp.Flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush on a full disk: %v, want ENOSPC", err)
	}
	b.reportLost()
	want := []market.Gap{window(trade(0).Stream(), trade(0), trade(3)), window(ethTrade(0).Stream(), ethTrade(0), ethTrade(3))}
	for i := range want {
		want[i].Reason = market.GapSpoolError
	}
	checkCorruptGaps(t, gaps.all(), want...)
	if st := b.Stats(); st.WriteLost != 9 || st.Gaps != 2 {
		t.Errorf("write lost %d, gaps %d; want 9 and 2", st.WriteLost, st.Gaps)
	}
	b.reportLost()
	if n := len(gaps.all()); n != 2 {
		t.Errorf("%d gaps after a second report, want the 2 (each loss reported once)", n)
	}
}

// anyWriter is a listWriter that takes records of any type (and keeps
// none).
type anyWriter struct{ listWriter }

func (w *anyWriter) TryWriteWithin(market.Record, time.Duration) (bool, error) { return !w.full, nil }

// TestFormingCandleDroppedIsNoGap: an update of a candle still forming
// that the full spool drops opens no hole (the exchange serves the candle
// once it has closed; its closing update would open one); a closed candle
// dropped does.
func TestFormingCandleDroppedIsNoGap(t *testing.T) {
	sp := openSpool(t, Config{Dir: t.TempDir(), MaxBytes: 1})
	gaps := &gapLog{}
	w := &anyWriter{listWriter: listWriter{full: true}}
	b, err := NewBuffer(BufferConfig{Gaps: gaps}, sp, w, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	candle := func(minute int, closed bool) *market.Candle {
		m := trade(0).Meta
		m.Time = m.Time.Truncate(time.Minute).Add(time.Duration(minute) * time.Minute)
		return &market.Candle{Meta: m, Timeframe: market.TF1m, Open: dec("1"), High: dec("1"), Low: dec("1"), Close: dec("1"), Volume: dec("1"), Closed: closed}
	}
	write := func(rec market.Record) {
		t.Helper()
		if err := b.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	// back to memory, as the replay switches once the spool is empty
	toMemory := func() {
		t.Helper()
		w.full = false
		if _, ok, err := b.next(); ok || err != nil {
			t.Fatalf("the spool holds records: %v", err)
		}
	}
	write(candle(0, false)) // dropped: the spool is full
	toMemory()
	write(candle(0, false)) // kept
	if got := gaps.all(); len(got) != 0 {
		t.Fatalf("a dropped forming candle made gaps %v", got)
	}
	w.full = true
	write(candle(0, true)) // dropped
	toMemory()
	write(candle(1, false)) // kept: the hole of the closed candle is reported
	if got := gaps.all(); len(got) != 1 || got[0].Reason != market.GapSpoolFull {
		t.Errorf("gaps %v, want one spool_full gap for the closed candle", got)
	}
	if st := b.Stats(); st.Dropped != 2 {
		t.Errorf("%d dropped, want 2", st.Dropped)
	}
}

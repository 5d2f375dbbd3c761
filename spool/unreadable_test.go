package spool

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

// listWriter is a Writer that keeps what it is given, in memory; when
// full, its queue takes nothing.
type listWriter struct {
	ids     []string
	rejects []market.Reject
	full    bool
}

func (w *listWriter) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (w *listWriter) Admit(market.Record) error     { return nil }
func (w *listWriter) TryWriteWithin(rec market.Record, _ time.Duration) (bool, error) {
	if w.full {
		return false, nil
	}
	return true, w.Write(context.Background(), rec)
}
func (w *listWriter) Write(_ context.Context, rec market.Record) error {
	w.ids = append(w.ids, rec.(*market.Trade).TradeID)
	return nil
}
func (w *listWriter) TryReject(r market.Reject) error { w.rejects = append(w.rejects, r); return nil }
func (w *listWriter) Sync(context.Context) error      { return nil }

// TestUnreadableSegmentIsSetAside: a segment that cannot be read (here:
// gone from the disk) does not hold the replay back; it is counted and the
// next segment is replayed.
func TestUnreadableSegmentIsSetAside(t *testing.T) {
	dir := t.TempDir()
	sp, err := Open(Config{Dir: dir, SegmentBytes: 1024}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	for i := range 40 { // several segments of 1 KiB
		if err := sp.Append(trade(i)); err != nil {
			t.Fatal(err)
		}
	}
	w := &listWriter{}
	b, err := NewBuffer(BufferConfig{}, sp, w, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	first, ok, err := b.next()
	if err != nil || !ok {
		t.Fatalf("oldest segment: %d, %t, %v", first, ok, err)
	}
	if err := os.Remove(filepath.Join(dir, "000001.spool")); err != nil {
		t.Fatal(err)
	}
	if err := b.replaySegment(t.Context(), first); err != nil {
		t.Fatalf("replay of a missing segment: %v, want it set aside", err)
	}
	if st := b.Stats(); st.Unreadable != 1 {
		t.Fatalf("stats %+v, want 1 unreadable segment", st)
	}
	second, ok, err := b.next()
	if err != nil || !ok || second == first {
		t.Fatalf("next segment after the unreadable one: %d, %t, %v", second, ok, err)
	}
	if err := b.replaySegment(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	if len(w.ids) == 0 || slices.Contains(w.ids, trade(0).TradeID) {
		t.Fatalf("replayed %v: want the second segment's trades, not the first's", w.ids)
	}
}

// TestFailedWriteSealsSegment: when writing the buffer out fails (a full
// or failing disk; here, the file closed under it), the records it held
// are counted as lost, the segment is sealed, and the next record goes to
// a new segment instead of failing for good.
func TestFailedWriteSealsSegment(t *testing.T) {
	dir := t.TempDir()
	sp, err := Open(Config{Dir: dir}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	for i := range 3 {
		if err := sp.Append(trade(i)); err != nil {
			t.Fatal(err)
		}
	}
	sp.mu.Lock()
	_ = sp.active.Close() // the next write fails
	sp.mu.Unlock()
	if err := sp.Flush(); err == nil {
		t.Fatal("Flush to a closed file succeeded")
	}
	if u := sp.Usage(); u.WriteLost != 3 || u.Segments != 1 {
		t.Fatalf("usage %+v: want 3 records lost and the segment sealed", u)
	}
	if err := sp.Append(trade(3)); err != nil {
		t.Fatalf("Append after a failed write: %v", err)
	}
	if err := sp.Flush(); err != nil {
		t.Fatalf("Flush to the new segment: %v", err)
	}
	if u := sp.Usage(); u.Segments != 2 {
		t.Fatalf("usage %+v: want the sealed segment and a new one", u)
	}
}

// TestDiskErrorGapReason: records dropped because the disk refused them
// (not because the spool reached its cap) are reported with reason
// spool_error.
func TestDiskErrorGapReason(t *testing.T) {
	sp, err := Open(Config{Dir: t.TempDir()}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	w := &listWriter{full: true}
	gaps := &gapLog{}
	b, err := NewBuffer(BufferConfig{Gaps: gaps}, sp, w, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	if err := sp.Close(); err != nil { // every Append fails from now on, not with ErrFull
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.Write(t.Context(), trade(i)); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := gaps.all()
	if len(got) != 1 || got[0].Reason != market.GapSpoolError {
		t.Fatalf("gaps %v, want one with reason %s", got, market.GapSpoolError)
	}
	if st := b.Stats(); st.Dropped != 3 {
		t.Fatalf("stats %+v, want 3 dropped", st)
	}
}

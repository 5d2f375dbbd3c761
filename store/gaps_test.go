package store

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"marketetl/market"
)

func TestGapsRecordMergesOverlappingOpenGaps(t *testing.T) {
	_, pool := migratedDB(t)
	g := NewGaps(pool)
	ctx := t.Context()
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	st := market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade}
	a, err := g.Record(ctx, market.Gap{Stream: st, From: at, To: at.Add(time.Minute), AfterID: 10, BeforeID: 20, Reason: market.GapDisconnect})
	if err != nil {
		t.Fatal(err)
	}
	// Overlaps in time and ids: merged into the first row.
	b, err := g.Record(ctx, market.Gap{Stream: st, From: at.Add(30 * time.Second), To: at.Add(2 * time.Minute), AfterID: 15, BeforeID: 30, Reason: market.GapTradeIDJump})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != a.ID || b.Gap.AfterID != 10 || b.Gap.BeforeID != 30 || !b.Gap.To.Equal(at.Add(2*time.Minute)) || b.Gap.Reason != market.GapDisconnect {
		t.Fatalf("merged row %+v, want id %d, ids 10..30, to +2m, reason disconnect", b, a.ID)
	}
	// Another stream, a disjoint window, and a filling gap are not merged.
	other := st
	other.Symbol = "ETH-USDT"
	if _, err := g.Record(ctx, market.Gap{Stream: other, From: at, To: at.Add(time.Minute), Reason: market.GapRestart}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Record(ctx, market.Gap{Stream: st, From: at.Add(time.Hour), To: at.Add(2 * time.Hour), AfterID: 100, BeforeID: 200}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Start(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	c, err := g.Record(ctx, market.Gap{Stream: st, From: at, To: at.Add(time.Minute), AfterID: 12, BeforeID: 14})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID {
		t.Fatal("a gap was merged into one being filled")
	}
	rows, err := g.List(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows for %s, want 3", len(rows), st)
	}
	pending, err := g.Pending(ctx, market.OKX)
	if err != nil || len(pending) != 4 {
		t.Fatalf("pending %d, %v; want 4", len(pending), err)
	}
	if err := g.Finish(ctx, a.ID, GapUnfillable, "history_unavailable", "gone"); err != nil {
		t.Fatal(err)
	}
	counts, err := g.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.ByStatus["okx"][GapOpen] != 3 || counts.ByStatus["okx"][GapUnfillable] != 1 {
		t.Errorf("counts %+v, want 3 open and 1 unfillable", counts.ByStatus)
	}
	if _, err := g.Start(ctx, a.ID); err == nil {
		t.Error("an unfillable gap was started again")
	}
}

// TestGapsRecordKeepsEachBookResync records two resyncs of one Binance
// book as the collector makes them: the first gap ends at the host time
// its REST snapshot was received, after the exchange time of the update
// the second one opens at, so the two overlap while the first is still
// open (the filler has not marked it unfillable yet). Each stays its own
// row with its own bounds, and neither takes in another gap of the book.
func TestGapsRecordKeepsEachBookResync(t *testing.T) {
	_, pool := migratedDB(t)
	g := NewGaps(pool)
	ctx := t.Context()
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	st := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeOrderBook}
	first := market.Gap{Stream: st, From: at, To: at.Add(200 * time.Millisecond), Reason: market.GapBookResync}
	second := market.Gap{Stream: st, From: at.Add(100 * time.Millisecond), To: at.Add(300 * time.Millisecond), Reason: market.GapBookResync}
	a, err := g.Record(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Record(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID == a.ID {
		t.Fatalf("the second resync's gap was merged into the first's row %d: %s", a.ID, b.Gap)
	}
	// Another gap of the book over both resyncs takes neither in, nor is
	// taken in; a second such gap still merges with it.
	spool := market.Gap{Stream: st, From: at.Add(50 * time.Millisecond), To: at.Add(250 * time.Millisecond), Reason: market.GapSpoolFull}
	c, err := g.Record(ctx, spool)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID || c.ID == b.ID {
		t.Fatalf("a spool_full gap was merged with a book_resync row: %+v", c)
	}
	d, err := g.Record(ctx, market.Gap{Stream: st, From: at.Add(240 * time.Millisecond), To: at.Add(400 * time.Millisecond), Reason: market.GapSpoolFull})
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != c.ID {
		t.Fatalf("two overlapping spool_full gaps of the book are rows %d and %d, want one", c.ID, d.ID)
	}
	rows, err := g.List(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s %s..%s %s", r.Gap.Reason, r.Gap.From.Format("15:04:05.000"), r.Gap.To.Format("15:04:05.000"), r.Status))
	}
	want := []string{
		"book_resync 10:00:00.000..10:00:00.200 open",
		"spool_full 10:00:00.050..10:00:00.400 open",
		"book_resync 10:00:00.100..10:00:00.300 open",
	}
	if !slices.Equal(got, want) {
		t.Errorf("gaps of %s:\n got %q\nwant %q", st, got, want)
	}
}

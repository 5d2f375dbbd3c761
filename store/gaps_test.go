package store

import (
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

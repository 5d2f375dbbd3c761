package store

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

// TestDirectCopyFallsBack: a batch with rows already stored fails the
// direct COPY (unique_violation) and is merged instead, each row counted
// once; the next batches go straight to the merge for a while.
func TestDirectCopyFallsBack(t *testing.T) {
	_, pool := migratedDB(t)
	w := newTestWriter(t, pool, 1)
	l := w.trades
	batch := func(from, n int) []*market.Trade {
		rows := make([]*market.Trade, n)
		for i := range rows {
			rows[i] = trade(from+i, "100.5", "0.01")
		}
		return rows
	}
	var res FlushResult
	if err := l.store(t.Context(), batch(1, 10), &res); err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 10 || l.mergeNext.Load() != 0 {
		t.Fatalf("first batch: %+v, mergeNext %d; want 10 inserted by the direct COPY", res, l.mergeNext.Load())
	}
	res = FlushResult{}
	if err := l.store(t.Context(), batch(6, 10), &res); err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 5 || res.Skipped != 5 || res.Rejected != 0 {
		t.Fatalf("overlapping batch: %+v; want 5 inserted, 5 skipped", res)
	}
	if got := l.mergeNext.Load(); got != mergeAfterConflict {
		t.Fatalf("mergeNext %d after a conflict, want %d", got, mergeAfterConflict)
	}
	res = FlushResult{}
	if err := l.store(t.Context(), batch(16, 10), &res); err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 10 || l.mergeNext.Load() != mergeAfterConflict-1 {
		t.Fatalf("batch after the conflict: %+v, mergeNext %d; want 10 inserted by the merge", res, l.mergeNext.Load())
	}
	if got := count(t, pool, `SELECT count(*) FROM trades`); got != 25 {
		t.Fatalf("%d trades stored, want 25", got)
	}
}

// TestCopyWritersSplit: with two COPY writers a large batch is stored in
// two parts; duplicates and a refused row in either part are handled as in
// one batch, and every count is exact.
func TestCopyWritersSplit(t *testing.T) {
	_, pool := migratedDB(t)
	w := newTestWriter(t, pool, 2)
	l := w.trades
	if len(l.encs) != 2 || len(w.candles.encs) != 1 {
		t.Fatalf("trades have %d COPY writers, candles %d; want 2 and 1", len(l.encs), len(w.candles.encs))
	}
	var res FlushResult
	stored := make([]*market.Trade, 0, 500)
	for i := range 500 {
		stored = append(stored, trade(2000+i, "1", "1")) // in the second part
	}
	if err := l.store(t.Context(), stored, &res); err != nil {
		t.Fatal(err)
	}
	rows := make([]*market.Trade, 3000)
	for i := range rows {
		rows[i] = trade(i, "1", "1")
	}
	rows[100] = trade(100, "-1", "1") // refused: trades_price_check
	res = FlushResult{}
	if err := l.store(t.Context(), rows, &res); err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2499 || res.Skipped != 500 || res.Rejected != 1 {
		t.Fatalf("flush %+v; want 2499 inserted, 500 skipped, 1 rejected", res)
	}
	if got := count(t, pool, `SELECT count(*) FROM trades`); got != 2999 {
		t.Fatalf("%d trades stored, want 2999", got)
	}
	if got := count(t, pool, `SELECT count(*) FROM rejects WHERE sqlstate = '23514'`); got != 1 {
		t.Fatalf("%d rejects, want 1", got)
	}
}

// newTestWriter returns a Writer (not running) with the given number of
// COPY writers; tests call its lanes' store directly.
func newTestWriter(t *testing.T, pool *pgxpool.Pool, writers int) *Writer {
	t.Helper()
	w, err := New(Config{CopyWriters: writers, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond}, pool, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestCandlesDirectThenMerge: new candles are copied straight into the
// table; a batch updating a stored candle falls back to the merge, which
// applies the versioning rules and counts exactly.
func TestCandlesDirectThenMerge(t *testing.T) {
	_, pool := migratedDB(t)
	w := newTestWriter(t, pool, 2)
	l := w.candles
	var res FlushResult
	if err := l.store(t.Context(), []*market.Candle{candle(1, "10", false, 1), candle(2, "11", true, 1)}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2 || l.mergeNext.Load() != 0 {
		t.Fatalf("new candles: %+v, mergeNext %d; want 2 inserted by the direct COPY", res, l.mergeNext.Load())
	}
	res = FlushResult{}
	batch := []*market.Candle{
		candle(1, "12", true, 2),  // closes the forming candle: updated
		candle(2, "13", false, 2), // forming after closed: skipped
		candle(3, "14", false, 2), // new: inserted
		candle(3, "15", false, 3), // later version of the same new candle wins
	}
	if err := l.store(t.Context(), batch, &res); err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 1 || res.Updated != 1 || res.Skipped != 2 || l.mergeNext.Load() != mergeAfterConflict {
		t.Fatalf("updating batch: %+v, mergeNext %d; want 1 inserted, 1 updated, 2 skipped by the merge", res, l.mergeNext.Load())
	}
	var closes string
	if err := pool.QueryRow(t.Context(), `SELECT string_agg(close::text || closed::text, ',' ORDER BY ts) FROM candles`).Scan(&closes); err != nil {
		t.Fatal(err)
	}
	if closes != "12true,11true,15false" {
		t.Fatalf("stored candles %s", closes)
	}
}

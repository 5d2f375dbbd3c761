package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"marketetl/market"
)

// provisional returns candle(minute, closeP, false, received) marked
// provisional.
func provisional(minute int, closeP string, received int) *market.Candle {
	c := candle(minute, closeP, false, received)
	c.Provisional = true
	return c
}

// storedCandles renders the stored candles, oldest first, as
// "minute:close:state" with state closed, provisional or forming.
func storedCandles(t *testing.T, w *Writer) string {
	t.Helper()
	rows, err := w.pool.Query(t.Context(), `SELECT ts, close::text,
		CASE WHEN closed AND provisional THEN 'both' WHEN closed THEN 'closed' WHEN provisional THEN 'provisional' ELSE 'forming' END
		FROM candles ORDER BY ts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			ts           time.Time
			close, state string
		)
		if err := rows.Scan(&ts, &close, &state); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d:%s:%s", int(ts.Sub(t0)/time.Minute), close, state))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

// TestProvisionalCandleVersions: the upsert rules between forming,
// provisional and closed versions of one candle, batch after batch and
// within one batch, on the direct COPY and on the merge.
func TestProvisionalCandleVersions(t *testing.T) {
	steps := []struct {
		name  string
		batch []*market.Candle
		want  string
	}{
		{
			name:  "new candles, copied straight in",
			batch: []*market.Candle{candle(1, "10", false, 1), provisional(2, "11", 70), candle(3, "12", true, 1), candle(4, "13", false, 1)},
			want:  "1:10:forming 2:11:provisional 3:12:closed 4:13:forming",
		},
		{
			name: "provisional replaces forming; forming never replaces provisional; provisional never replaces closed",
			batch: []*market.Candle{
				provisional(1, "14", 70),    // the forming candle's bucket ended: provisional wins
				candle(2, "15", false, 500), // a forming update received later: still not over a provisional one
				provisional(3, "16", 500),   // a provisional one received later: not over the closed one
			},
			want: "1:14:provisional 2:11:provisional 3:12:closed 4:13:forming",
		},
		{
			name: "the exchange's closed candle replaces the provisional one",
			batch: []*market.Candle{
				candle(1, "17", true, 2), // received earlier than the provisional one, still wins
				candle(2, "18", true, 600),
			},
			want: "1:17:closed 2:18:closed 3:12:closed 4:13:forming",
		},
		{
			name: "within a batch, the closed version wins over a provisional one received later",
			batch: []*market.Candle{
				candle(5, "19", true, 100),
				provisional(5, "20", 200),
				candle(4, "6", false, 300),
				provisional(4, "7", 200),
			},
			want: "1:17:closed 2:18:closed 3:12:closed 4:7:provisional 5:19:closed",
		},
	}
	_, pool := migratedDB(t)
	w := newTestWriter(t, pool, 4)
	for _, s := range steps {
		var res FlushResult
		if err := w.candles.store(t.Context(), s.batch, &res); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := storedCandles(t, w); got != s.want {
			t.Errorf("%s:\n got %s\nwant %s", s.name, got, s.want)
		}
	}
}

// TestProvisionalCandleRecordsItsCheck: storing a provisional candle, by
// the direct COPY or the merge, records its pending check in the same
// transaction, due a minute after the candle was received; closed and
// forming candles record none.
func TestProvisionalCandleRecordsItsCheck(t *testing.T) {
	_, pool := migratedDB(t)
	w := newTestWriter(t, pool, 4)
	checks := NewCandleChecks(pool)
	var res FlushResult
	if err := w.candles.store(t.Context(), []*market.Candle{provisional(1, "10", 70), candle(2, "11", true, 1), candle(3, "12", false, 1)}, &res); err != nil {
		t.Fatal(err)
	}
	if err := w.candles.store(t.Context(), []*market.Candle{provisional(3, "13", 250), candle(2, "11", true, 1)}, &res); err != nil {
		t.Fatal(err)
	}
	st := candle(0, "1", false, 0).Stream()
	got, err := checks.Pending(t.Context(), []market.Stream{st}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []market.CandleCheck{
		{Stream: st, Time: t0.Add(time.Minute), Reason: market.CheckProvisional, Due: t0.Add(70*time.Second + time.Minute)},
		{Stream: st, Time: t0.Add(3 * time.Minute), Reason: market.CheckProvisional, Due: t0.Add(250*time.Second + time.Minute)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 2 || !got[0].Due.Equal(want[0].Due) || !got[1].Due.Equal(want[1].Due) {
		t.Fatalf("pending checks %+v\nwant %+v", got, want)
	}
}

// TestCandleChecks: Add keeps an existing check (upgrading it to
// provisional), Pending returns the streams' pending checks earliest due
// first, Retry postpones and counts, Abandon hides, Done deletes.
func TestCandleChecks(t *testing.T) {
	_, pool := migratedDB(t)
	s := NewCandleChecks(pool)
	a := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	b := market.Stream{Exchange: market.Coinbase, Symbol: "ETH-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	other := market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1m}
	chk := func(st market.Stream, minute int, r market.CheckReason, due int) market.CandleCheck {
		return market.CandleCheck{Stream: st, Time: t0.Add(time.Duration(minute) * time.Minute), Reason: r, Due: t0.Add(time.Duration(due) * time.Second)}
	}
	ctx := t.Context()
	if err := s.Add(ctx, []market.CandleCheck{
		chk(a, 1, market.CheckClosed, 120), chk(a, 2, market.CheckClosed, 180), chk(b, 1, market.CheckProvisional, 100), chk(other, 1, market.CheckClosed, 1),
	}); err != nil {
		t.Fatal(err)
	}
	// Again: a's minute 1 becomes provisional, its due time is kept; b's
	// minute 1 stays provisional.
	if err := s.Add(ctx, []market.CandleCheck{chk(a, 1, market.CheckProvisional, 999), chk(b, 1, market.CheckClosed, 5)}); err != nil {
		t.Fatal(err)
	}
	show := func() string {
		t.Helper()
		got, err := s.Pending(ctx, []market.Stream{a, b}, 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range got {
			out = append(out, fmt.Sprintf("%s@%d/%s/%d/%s", c.Stream.Symbol, int(c.Time.Sub(t0)/time.Minute), c.Reason, int(c.Due.Sub(t0)/time.Second), c.LastError))
		}
		return strings.Join(out, " ")
	}
	if got, want := show(), "ETH-USD@1/provisional/100/ BTC-USD@1/provisional/120/ BTC-USD@2/closed/180/"; got != want {
		t.Fatalf("pending\n got %s\nwant %s", got, want)
	}
	if err := s.Retry(ctx, chk(b, 1, "", 0), t0.Add(500*time.Second), "boom"); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(ctx, chk(a, 2, "", 0)); err != nil {
		t.Fatal(err)
	}
	if got, want := show(), "BTC-USD@1/provisional/120/ ETH-USD@1/provisional/500/boom"; got != want {
		t.Fatalf("after retry and done\n got %s\nwant %s", got, want)
	}
	if err := s.Abandon(ctx, chk(a, 1, "", 0), "no candle"); err != nil {
		t.Fatal(err)
	}
	if got, want := show(), "ETH-USD@1/provisional/500/boom"; got != want {
		t.Fatalf("after abandon\n got %s\nwant %s", got, want)
	}
	var attempts int
	var status string
	if err := pool.QueryRow(ctx, `SELECT attempts, status FROM candle_checks WHERE symbol = 'BTC-USD' AND ts = $1`, t0.Add(time.Minute)).Scan(&attempts, &status); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || status != CheckAbandoned {
		t.Fatalf("abandoned check: attempts %d, status %s", attempts, status)
	}
}

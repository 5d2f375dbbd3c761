package collector

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// fakeHistory serves REST candles from a map by open time and records each
// Candles request.
type fakeHistory struct {
	mu      sync.Mutex
	candles map[time.Time]market.Candle // of BTC-USD; other symbols have none
	calls   []string                    // "symbol tf from..to"
}

func (h *fakeHistory) Candles(_ context.Context, sym market.Symbol, tf market.Timeframe, from, to time.Time) ([]market.Candle, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf("%s %s %d..%d", sym, tf, from.Unix(), to.Unix()))
	var out []market.Candle
	if sym != "BTC-USD" {
		return nil, nil
	}
	for t := from; t.Before(to); t = t.Add(tf.Duration()) {
		if c, ok := h.candles[t]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}

func (h *fakeHistory) Trades(context.Context, market.Symbol, int64, int) ([]market.Trade, error) {
	return nil, nil
}

func (h *fakeHistory) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// restCandle is the candle candleFrame(open, true) describes, with close
// replaced when close is not empty.
func restCandle(open int64, close string) market.Candle {
	if close == "" {
		close = "11"
	}
	return market.Candle{Meta: market.Meta{Time: at(open)}, Open: decimal.RequireFromString("10"), High: decimal.RequireFromString("12"),
		Low: decimal.RequireFromString("9"), Close: decimal.RequireFromString(close), Volume: decimal.RequireFromString("3"), Trades: -1, Closed: true}
}

func TestReceivedClosedCandlesAreReconciled(t *testing.T) {
	ls := newLineServer(t)
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	hist := &fakeHistory{candles: map[time.Time]market.Candle{
		at(t0):      restCandle(t0, "11.5"), // the exchange's final close differs
		at(t0 + 60): restCandle(t0+60, ""),
	}}
	c, sink, _, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), candles: true},
		Config{Streams: []market.Stream{cs}, History: hist, ReconcileAfter: time.Millisecond})
	defer stop()
	ls.broadcast(candleFrame(t0, false)) // forming: never reconciled
	ls.broadcast(candleFrame(t0, true))
	ls.broadcast(candleFrame(t0+60, true))
	ls.broadcast(candleFrame(t0+120, true)) // the exchange has none yet
	waitFor(t, "3 reconciled", func() bool {
		r := c.Status().Reconciled
		return r[reconcileCorrected]+r[reconcileMatched]+r[reconcileMissing] == 3
	})
	if r := c.Status().Reconciled; r[reconcileCorrected] != 1 || r[reconcileMatched] != 1 || r[reconcileMissing] != 1 || len(r) != 3 {
		t.Errorf("reconciled %v, want 1 corrected, 1 matched, 1 missing", r)
	}
	if n := len(hist.requests()); n < 1 || n > 3 {
		t.Errorf("%d REST requests %v, want 1 to 3 for 3 closed candles", n, hist.requests())
	}
	recs, _ := sink.snapshot()
	if len(recs) != 5 {
		t.Fatalf("%d records handed on, want 4 received and 1 correction", len(recs))
	}
	// The correction is handed on by the reconciler, which may run before
	// the last frames are read: find it by its value.
	var fixed *market.Candle
	for _, r := range recs {
		if cd, ok := r.(*market.Candle); ok && cd.Close.String() == "11.5" {
			fixed = cd
		}
	}
	if fixed == nil || !fixed.Closed || fixed.Stream() != cs || !fixed.Time.Equal(at(t0)) || fixed.Received.IsZero() {
		t.Errorf("correction %+v among %v", fixed, recs)
	}
}

func TestDueCandlesOfAStreamShareOneRequest(t *testing.T) {
	a := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	b := market.Stream{Exchange: market.Coinbase, Symbol: "ETH-USD", Type: market.TypeCandle, Timeframe: market.TF5m}
	hist := &fakeHistory{candles: map[time.Time]market.Candle{}}
	for i := int64(0); i < 300; i++ {
		hist.candles[at(t0+60*i)] = restCandle(t0+60*i, "")
	}
	now := at(t0 + 100000)
	c, err := New(Config{Name: "t", Streams: []market.Stream{a, b}, History: hist, Now: func() time.Time { return now }},
		&lineProto{url: "ws://127.0.0.1:1", candles: true}, newSink())
	if err != nil {
		t.Fatal(err)
	}
	check := func(s market.Stream, open int64, due time.Time) market.CandleCheck {
		cd := restCandle(open, "")
		return market.CandleCheck{Stream: s, Time: cd.Time, Reason: market.CheckClosed, Due: due,
			Open: cd.Open, High: cd.High, Low: cd.Low, Close: cd.Close, Volume: cd.Volume}
	}
	all := []market.CandleCheck{
		check(a, t0, now.Add(-time.Second)),
		check(b, t0, now.Add(-time.Second)),
		check(a, t0+120, now.Add(-time.Second)),
		check(a, t0+60, now),
		check(a, t0+60*150, now),                  // beyond one page of a's first
		check(a, t0+60*151, now.Add(time.Second)), // not due
	}
	if err := c.checks.Add(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	if wait, err := c.reconcileRound(t.Context()); err != nil || wait != 0 {
		t.Fatalf("round: wait %s, %v; want 0 (go on), nil", wait, err)
	}
	left, err := c.checks.Pending(t.Context(), []market.Stream{a, b}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || !left[0].Time.Equal(at(t0+60*151)) {
		t.Errorf("left %d pending, want the one not due", len(left))
	}
	if wait, err := c.reconcileRound(t.Context()); err != nil || wait != time.Second {
		t.Errorf("next round: wait %s, %v; want 1s (until the next is due), nil", wait, err)
	}
	want := []string{
		fmt.Sprintf("BTC-USD 1m %d..%d", t0, t0+180),
		fmt.Sprintf("BTC-USD 1m %d..%d", t0+60*150, t0+60*151),
		fmt.Sprintf("ETH-USD 5m %d..%d", t0, t0+300),
	}
	if got := hist.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests\n got %v\nwant %v", got, want)
	}
	if r := c.Status().Reconciled; r[reconcileMatched] != 4 || r[reconcileMissing] != 1 {
		t.Errorf("reconciled %v, want 4 matched and 1 missing (ETH-USD has no REST candle)", r)
	}
}

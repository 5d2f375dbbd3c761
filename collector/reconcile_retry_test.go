package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"marketetl/market"
)

// flakyHistory fails its first fails Candles requests, then serves candle;
// it records when each request came.
type flakyHistory struct {
	mu     sync.Mutex
	fails  int
	candle market.Candle
	calls  []time.Time
}

var errRESTDown = errors.New("REST down")

func (h *flakyHistory) Candles(_ context.Context, _ market.Symbol, _ market.Timeframe, from, to time.Time) ([]market.Candle, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, time.Now())
	if len(h.calls) <= h.fails {
		return nil, errRESTDown
	}
	if h.candle.Time.Before(from) || !h.candle.Time.Before(to) {
		return nil, nil
	}
	return []market.Candle{h.candle}, nil
}

func (h *flakyHistory) Trades(context.Context, market.Symbol, int64, int) ([]market.Trade, error) {
	return nil, nil
}

// TestProvisionalCandleRetriedWithBackoff: the exchange's REST fails three
// times; the provisional candle's check is retried after exactly the
// jittered backoff (1s, 2s, 4s halved by a jitter of 0), then the
// exchange's candle is handed on as closed and the check is finished.
func TestProvisionalCandleRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
		start := time.Now()
		open := start.Truncate(time.Minute)
		theirs := restCandle(open.Unix(), "11.5")
		hist := &flakyHistory{fails: 3, candle: theirs}
		sink := newSink()
		c, err := New(Config{Name: "t", Streams: []market.Stream{cs}, History: hist, Rand: func() float64 { return 0 }},
			&lineProto{url: "ws://127.0.0.1:1", candles: true}, sink)
		if err != nil {
			t.Fatal(err)
		}
		ours := restCandle(open.Unix(), "") // built from part of the minute
		ours.Exchange, ours.Symbol, ours.Timeframe, ours.Closed, ours.Provisional = cs.Exchange, cs.Symbol, cs.Timeframe, false, true
		c.enqueueReconcile(&ours)

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- c.reconcile(ctx) }()
		time.Sleep(10 * time.Minute) // fake time: every retry falls due
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("reconcile: %v", err)
		}

		var got []time.Duration
		for _, at := range hist.calls {
			got = append(got, at.Sub(start))
		}
		// Due a minute (ReconcileAfter) after it closed, then 0.5s, 1s and
		// 2s after each failure.
		want := []time.Duration{time.Minute, time.Minute + 500*time.Millisecond, time.Minute + 1500*time.Millisecond, time.Minute + 3500*time.Millisecond}
		if len(got) != len(want) {
			t.Fatalf("requests at %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("request %d at +%s, want +%s", i+1, got[i], want[i])
			}
		}
		recs, _ := sink.snapshot()
		if len(recs) != 1 {
			t.Fatalf("%d records handed on, want the exchange's candle", len(recs))
		}
		fixed := recs[0].(*market.Candle)
		if !fixed.Closed || fixed.Provisional || fixed.Close.String() != "11.5" || fixed.Stream() != cs || !fixed.Time.Equal(open) {
			t.Errorf("handed on %+v, want the exchange's closed candle", fixed)
		}
		if r := c.Status().Reconciled; r[reconcileFailed] != 3 || r[reconcileCorrected] != 1 || len(r) != 2 {
			t.Errorf("reconciled %v, want 3 failed and 1 corrected", r)
		}
		if left, _ := c.checks.Pending(t.Context(), []market.Stream{cs}, 10); len(left) != 0 {
			t.Errorf("checks left %v, want none", left)
		}
	})
}

// TestProvisionalCandleWithoutExchangeCandleIsRetriedThenAbandoned: a
// provisional candle the exchange serves no candle for is retried, not
// forgotten, up to checkMaxMissing attempts; then its check is abandoned
// and the candle stays provisional (nothing handed on).
func TestProvisionalCandleWithoutExchangeCandleIsRetriedThenAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
		open := time.Now().Truncate(time.Minute)
		hist := &flakyHistory{candle: restCandle(open.Add(-time.Hour).Unix(), "")} // not the one asked for
		sink := newSink()
		c, err := New(Config{Name: "t", Streams: []market.Stream{cs}, History: hist, Rand: func() float64 { return 0 }},
			&lineProto{url: "ws://127.0.0.1:1", candles: true}, sink)
		if err != nil {
			t.Fatal(err)
		}
		ours := restCandle(open.Unix(), "")
		ours.Exchange, ours.Symbol, ours.Timeframe, ours.Closed, ours.Provisional = cs.Exchange, cs.Symbol, cs.Timeframe, false, true
		c.enqueueReconcile(&ours)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- c.reconcile(ctx) }()
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		cancel()
		<-done
		if n := len(hist.calls); n != checkMaxMissing {
			t.Errorf("%d requests, want %d", n, checkMaxMissing)
		}
		if r := c.Status().Reconciled; r[reconcileMissing] != checkMaxMissing || r[reconcileAbandoned] != 1 {
			t.Errorf("reconciled %v, want %d missing and 1 abandoned", r, checkMaxMissing)
		}
		if recs, _ := sink.snapshot(); len(recs) != 0 {
			t.Errorf("%d records handed on, want none", len(recs))
		}
	})
}

// downChecks is a check list whose Pending fails its first fails calls;
// it records when each call came.
type downChecks struct {
	*memChecks
	mu    sync.Mutex
	fails int
	calls []time.Time
}

func (d *downChecks) Pending(ctx context.Context, streams []market.Stream, limit int) ([]market.CandleCheck, error) {
	d.mu.Lock()
	d.calls = append(d.calls, time.Now())
	n := len(d.calls)
	d.mu.Unlock()
	if n <= d.fails {
		return nil, errors.New("database down")
	}
	return d.memChecks.Pending(ctx, streams, limit)
}

// TestCheckListDownIsRetriedAtMostEveryTenSeconds: while the check list
// does not answer, the loop retries with the jittered backoff, capped at
// checkListRetryMax, so that it notices soon that the database is back
// even when no candle closes meanwhile.
func TestCheckListDownIsRetriedAtMostEveryTenSeconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
		checks := &downChecks{memChecks: newMemChecks(), fails: 7}
		c, err := New(Config{Name: "t", Streams: []market.Stream{cs}, History: &flakyHistory{}, Checks: checks, Rand: func() float64 { return 0 }},
			&lineProto{url: "ws://127.0.0.1:1", candles: true}, newSink())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- c.reconcile(ctx) }()
		time.Sleep(time.Hour)
		synctest.Wait()
		cancel()
		<-done
		var got []time.Duration
		for _, at := range checks.calls {
			got = append(got, at.Sub(start))
		}
		// 0.5s, 1s, 2s, 4s, 8s, then capped at 10s; the eighth call answers.
		want := []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond,
			7500 * time.Millisecond, 15500 * time.Millisecond, 25500 * time.Millisecond, 35500 * time.Millisecond}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("check list read at %v, want %v", got, want)
		}
	})
}

// addDownChecks is a check list whose Add fails while down is set.
type addDownChecks struct {
	*memChecks
	down bool
}

func (d *addDownChecks) Add(ctx context.Context, checks []market.CandleCheck) error {
	if d.down {
		return errors.New("database down")
	}
	return d.memChecks.Add(ctx, checks)
}

// TestFullCheckQueueDropsNothing: while the check list does not answer,
// more than reconcileQueue checks wait in memory; once it answers, every
// one of them is recorded: a full queue skips no candle.
func TestFullCheckQueueDropsNothing(t *testing.T) {
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	checks := &addDownChecks{memChecks: newMemChecks(), down: true}
	c, err := New(Config{Name: "t", Streams: []market.Stream{cs}, History: &flakyHistory{}, Checks: checks},
		&lineProto{url: "ws://127.0.0.1:1", candles: true}, newSink())
	if err != nil {
		t.Fatal(err)
	}
	const n = reconcileQueue + 5
	open := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		cd := restCandle(open.Add(time.Duration(i)*time.Minute).Unix(), "")
		cd.Exchange, cd.Symbol, cd.Timeframe = cs.Exchange, cs.Symbol, cs.Timeframe
		c.enqueueReconcile(&cd)
	}
	if err := c.recordChecks(t.Context()); err == nil {
		t.Fatal("recording succeeded with the check list down")
	}
	checks.down = false
	if err := c.recordChecks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := checks.Pending(t.Context(), []market.Stream{cs}, 2*n); len(got) != n {
		t.Errorf("%d checks recorded, want all %d", len(got), n)
	}
}

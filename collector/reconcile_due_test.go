package collector

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"marketetl/market"
)

// countingChecks counts the reads of a check list.
type countingChecks struct {
	CandleChecks
	reads atomic.Int64
	mu    sync.Mutex
	adds  []int // the size of each Add
}

func (c *countingChecks) Add(ctx context.Context, checks []market.CandleCheck) error {
	c.mu.Lock()
	c.adds = append(c.adds, len(checks))
	c.mu.Unlock()
	return c.CandleChecks.Add(ctx, checks)
}

func (c *countingChecks) Pending(ctx context.Context, streams []market.Stream, limit int) ([]market.CandleCheck, error) {
	c.reads.Add(1)
	return c.CandleChecks.Pending(ctx, streams, limit)
}

// TestRecordingChecksDoesNotReadTheList: closed candles enqueued one by
// one are recorded as they come, but the check list is read only when a
// check may be due, not after each recording; once due, every check is
// worked all the same.
func TestRecordingChecksDoesNotReadTheList(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
		open := time.Now().Truncate(time.Minute).Add(-time.Hour)
		hist := &fakeHistory{candles: map[time.Time]market.Candle{}}
		list := &countingChecks{CandleChecks: newMemChecks()}
		c, err := New(Config{Name: "t", Streams: []market.Stream{cs}, History: hist, Checks: list, Rand: func() float64 { return 0 }},
			&lineProto{url: "ws://127.0.0.1:1", candles: true}, newSink())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- c.reconcile(ctx) }()
		synctest.Wait() // the list read once, empty
		const candles = 50
		for i := range candles {
			cd := restCandle(open.Add(time.Duration(i)*time.Minute).Unix(), "")
			cd.Exchange, cd.Symbol, cd.Timeframe = cs.Exchange, cs.Symbol, cs.Timeframe
			hist.candles[cd.Time] = cd // the exchange's: equal
			c.enqueueReconcile(&cd)
			synctest.Wait() // recorded
			time.Sleep(100 * time.Millisecond)
		}
		if n := list.reads.Load(); n > 2 {
			t.Errorf("check list read %d times while %d checks were recorded, none due; want at most 2", n, candles)
		}
		time.Sleep(2 * time.Minute) // fake time: all due
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if r := c.Status().Reconciled; r[reconcileMatched] != candles || len(r) != 1 {
			t.Errorf("reconciled %v, want %d matched", r, candles)
		}
		if left, _ := list.Pending(t.Context(), []market.Stream{cs}, 100); len(left) != 0 {
			t.Errorf("%d checks left, want none", len(left))
		}
	})
}

// TestCheckBacklogRecordedInParts: a backlog of checks (the check list was
// slow while candles closed) is recorded recordBatch at a time, every one
// of them.
func TestCheckBacklogRecordedInParts(t *testing.T) {
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	list := &countingChecks{CandleChecks: newMemChecks()}
	c, err := New(Config{Name: "t", Streams: []market.Stream{cs}, History: &fakeHistory{}, Checks: list},
		&lineProto{url: "ws://127.0.0.1:1", candles: true}, newSink())
	if err != nil {
		t.Fatal(err)
	}
	open := time.Now().Truncate(time.Minute)
	const backlog = 2*recordBatch + 500
	for i := range backlog {
		cd := restCandle(open.Add(time.Duration(i)*time.Minute).Unix(), "")
		cd.Exchange, cd.Symbol, cd.Timeframe = cs.Exchange, cs.Symbol, cs.Timeframe
		c.enqueueReconcile(&cd)
	}
	if err := c.recordChecks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(list.adds), fmt.Sprint([]int{recordBatch, recordBatch, 500}); got != want {
		t.Errorf("recorded in parts of %s, want %s", got, want)
	}
	if left, _ := list.Pending(t.Context(), []market.Stream{cs}, 2*backlog); len(left) != backlog {
		t.Errorf("%d checks recorded, want %d", len(left), backlog)
	}
}

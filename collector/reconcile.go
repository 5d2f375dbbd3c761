package collector

import (
	"context"
	"sort"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

// reconcileQueue bounds the closed candles waiting for reconciliation; when
// it is full, further candles are counted as not reconciled.
const reconcileQueue = 4096

// pending is a closed candle, built from trades or received, waiting to be
// compared with the exchange's own.
type pending struct {
	candle *market.Candle
	due    time.Time
}

// enqueueReconcile schedules c for comparison with the exchange's REST
// candle, when the collector has a History.
func (c *Collector) enqueueReconcile(cd *market.Candle) {
	if c.cfg.History == nil || !cd.Closed {
		return
	}
	select {
	case c.recon <- pending{candle: cd, due: c.cfg.Now().Add(c.cfg.ReconcileAfter)}:
	default:
		c.st.reconciled(reconcileSkipped)
	}
}

// Outcomes of a reconciliation, counted in Status.
const (
	reconcileMatched   = "matched"
	reconcileCorrected = "corrected"
	reconcileMissing   = "missing"
	reconcileFailed    = "failed"
	reconcileSkipped   = "skipped"
)

// reconcileBatch bounds the closed candles of one stream compared with one
// REST request: within every exchange's page size (OKX's is the smallest,
// 100 candles).
const reconcileBatch = 100

// reconcile compares closed candles — built from trades (Coinbase) or
// received over WebSocket (OKX, Binance) — with the exchange's REST
// candles, ReconcileAfter after they closed (the exchange needs a moment
// to publish them). A candle that differs is replaced by the exchange's,
// which the store accepts (a closed candle may replace a closed one) and
// which is counted as corrected. Candles are taken in the order they
// closed; those of one stream that are due together are compared with one
// request. It returns when ctx ends.
func (c *Collector) reconcile(ctx context.Context) error {
	var queue []pending // in the order they are due
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var in chan pending
		if len(queue) < reconcileQueue {
			in = c.recon
		}
		var due <-chan time.Time
		if len(queue) > 0 {
			wait := queue[0].due.Sub(c.cfg.Now())
			if wait <= 0 {
				queue = c.reconcileDue(ctx, queue)
				continue
			}
			timer.Reset(wait)
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case p := <-in:
			queue = append(queue, p)
		case <-due:
		}
		timer.Stop()
	}
}

// reconcileDue compares the candles of queue that are due, grouped by
// stream, and returns the rest.
func (c *Collector) reconcileDue(ctx context.Context, queue []pending) []pending {
	now := c.cfg.Now()
	n := 0
	for n < len(queue) && !queue[n].due.After(now) {
		n++
	}
	byStream := map[market.Stream][]*market.Candle{}
	var order []market.Stream
	for _, p := range queue[:n] {
		s := p.candle.Stream()
		if _, ok := byStream[s]; !ok {
			order = append(order, s)
		}
		byStream[s] = append(byStream[s], p.candle)
	}
	for _, s := range order {
		if ctx.Err() != nil {
			break
		}
		c.reconcileStream(ctx, byStream[s])
	}
	rest := queue[:copy(queue, queue[n:])]
	clear(queue[len(rest):])
	return rest
}

// reconcileStream compares closed candles of one stream, sorted or not,
// with as few REST requests as their span allows (one for up to
// reconcileBatch consecutive candles).
func (c *Collector) reconcileStream(ctx context.Context, ours []*market.Candle) {
	sort.Slice(ours, func(i, j int) bool { return ours[i].Time.Before(ours[j].Time) })
	tf := ours[0].Timeframe.Duration()
	for len(ours) > 0 {
		n := 1
		for n < len(ours) && ours[n].Time.Sub(ours[0].Time) < reconcileBatch*tf {
			n++
		}
		c.reconcileSpan(ctx, ours[:n])
		ours = ours[n:]
	}
}

// reconcileSpan compares ours, sorted closed candles of one stream within
// reconcileBatch candles of each other, with one REST request.
func (c *Collector) reconcileSpan(ctx context.Context, ours []*market.Candle) {
	first, last := ours[0], ours[len(ours)-1]
	tf := first.Timeframe
	rest, err := c.cfg.History.Candles(ctx, first.Symbol, tf, first.Time, last.Time.Add(tf.Duration()))
	if err != nil {
		if ctx.Err() == nil {
			for range ours {
				c.st.reconciled(reconcileFailed)
			}
			c.log.Debug("reconcile candles", zap.String("stream", first.Stream().String()), zap.Int("candles", len(ours)), zap.Error(err))
		}
		return
	}
	for _, cd := range ours {
		var theirs *market.Candle
		for i := range rest {
			if rest[i].Time.Equal(cd.Time) {
				theirs = &rest[i]
				break
			}
		}
		if err := c.compareCandle(ctx, cd, theirs); err != nil {
			return
		}
	}
}

// compareCandle counts the outcome of comparing ours with theirs (nil: the
// exchange has none) and hands on theirs when they differ.
func (c *Collector) compareCandle(ctx context.Context, ours, theirs *market.Candle) error {
	switch {
	case theirs == nil:
		c.st.reconciled(reconcileMissing)
	case sameOHLCV(ours, theirs):
		c.st.reconciled(reconcileMatched)
	default:
		fixed := *theirs
		fixed.Exchange, fixed.Symbol, fixed.Timeframe, fixed.Closed = ours.Exchange, ours.Symbol, ours.Timeframe, true
		fixed.Received = c.cfg.Now().UTC()
		c.log.Info("closed candle differs from the exchange's REST candle; corrected",
			zap.String("stream", ours.Stream().String()), zap.Time("ts", ours.Time),
			zap.String("ours", ohlcv(ours)), zap.String("exchange", ohlcv(&fixed)))
		if err := c.route.deliver(ctx, &fixed, fixed.Received, 0); err != nil {
			return err
		}
		c.st.reconciled(reconcileCorrected)
	}
	return nil
}

func sameOHLCV(a, b *market.Candle) bool {
	return a.Open.Equal(b.Open) && a.High.Equal(b.High) && a.Low.Equal(b.Low) && a.Close.Equal(b.Close) && a.Volume.Equal(b.Volume)
}

func ohlcv(c *market.Candle) string {
	return "o=" + c.Open.String() + " h=" + c.High.String() + " l=" + c.Low.String() + " c=" + c.Close.String() + " v=" + c.Volume.String()
}

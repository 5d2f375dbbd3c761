package collector

import (
	"context"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

// reconcileQueue bounds the closed candles waiting for reconciliation; when
// it is full, further candles are counted as not reconciled.
const reconcileQueue = 4096

// pending is a closed candle built from trades, waiting to be compared
// with the exchange's own.
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

// reconcile compares closed candles built from trades with the exchange's
// REST candles, ReconcileAfter after they closed (the exchange needs a
// moment to publish them). A candle that differs is replaced by the
// exchange's, which the store accepts (a closed candle may replace a closed
// one) and which is counted as corrected. Candles are taken in the order
// they closed. It returns when ctx ends.
func (c *Collector) reconcile(ctx context.Context) error {
	for {
		var p pending
		select {
		case <-ctx.Done():
			return nil
		case p = <-c.recon:
		}
		if wait := p.due.Sub(c.cfg.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		c.reconcileOne(ctx, p.candle)
	}
}

func (c *Collector) reconcileOne(ctx context.Context, ours *market.Candle) {
	tf := ours.Timeframe
	rest, err := c.cfg.History.Candles(ctx, ours.Symbol, tf, ours.Time, ours.Time.Add(tf.Duration()))
	if err != nil {
		if ctx.Err() == nil {
			c.st.reconciled(reconcileFailed)
			c.log.Debug("reconcile candle", zap.String("stream", ours.Stream().String()), zap.Error(err))
		}
		return
	}
	var theirs *market.Candle
	for i := range rest {
		if rest[i].Time.Equal(ours.Time) {
			theirs = &rest[i]
			break
		}
	}
	switch {
	case theirs == nil:
		c.st.reconciled(reconcileMissing)
	case sameOHLCV(ours, theirs):
		c.st.reconciled(reconcileMatched)
	default:
		fixed := *theirs
		fixed.Exchange, fixed.Symbol, fixed.Timeframe, fixed.Closed = ours.Exchange, ours.Symbol, tf, true
		fixed.Received = c.cfg.Now().UTC()
		c.log.Info("candle built from trades differs from the exchange's; corrected",
			zap.String("stream", ours.Stream().String()), zap.Time("ts", ours.Time),
			zap.String("ours", ohlcv(ours)), zap.String("exchange", ohlcv(&fixed)))
		if err := c.deliver(ctx, &fixed, fixed.Received); err != nil {
			return
		}
		c.st.reconciled(reconcileCorrected)
	}
}

func sameOHLCV(a, b *market.Candle) bool {
	return a.Open.Equal(b.Open) && a.High.Equal(b.High) && a.Low.Equal(b.Low) && a.Close.Equal(b.Close) && a.Volume.Equal(b.Volume)
}

func ohlcv(c *market.Candle) string {
	return "o=" + c.Open.String() + " h=" + c.High.String() + " l=" + c.Low.String() + " c=" + c.Close.String() + " v=" + c.Volume.String()
}

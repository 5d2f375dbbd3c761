package backfill

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

// sinceMargin is how far before a gap's start a time-paged trade history
// is asked from: an exchange whose since is exclusive, or whose times are
// rounded, still serves the trades at the very start; those already held
// are skipped by id or time.
const sinceMargin = time.Millisecond

// tradesByTime fills a trade gap from an exchange that pages its trade
// history by time (collector.TimedHistory, Kraken): from the gap's start,
// page after page by the exchange's cursor, keeping the trades inside the
// gap (by id when the gap has id bounds, else by time). A trade id that
// skips ahead of the last one kept marks trades the exchange no longer
// serves: that part is recorded as unfillable.
func (a *attempt) tradesByTime(ctx context.Context, th collector.TimedHistory) error {
	g := a.cur
	ids := g.HasIDs()
	since := g.From.Add(-sinceMargin)
	if cut := a.cutoff(); since.Before(cut) {
		lookback := "older than the lookback limit (BACKFILL_MAX_LOOKBACK) of " + a.f.cfg.MaxLookback.String()
		if !g.To.After(cut) {
			a.final = &Part{Gap: g, Reason: ReasonLookbackLimit, Detail: lookback}
			return nil
		}
		old := g
		old.To, old.AfterID, old.BeforeID = cut, 0, 0
		if err := a.splitOff(ctx, old, ReasonLookbackLimit, lookback); err != nil {
			return err
		}
		rest := g
		rest.From, rest.AfterID, rest.BeforeID = cut, 0, 0
		if err := a.narrow(ctx, rest); err != nil {
			return err
		}
		g, ids, since = rest, false, cut
	}
	cursor, at := g.AfterID, g.From // the last trade held and its time
	for {
		var page []market.Trade
		var next time.Time
		err := a.call(ctx, func() error {
			var err error
			page, next, err = th.TradesSince(ctx, g.Stream.Symbol, since)
			return err
		})
		if err != nil {
			return err
		}
		for i := range page {
			t := &page[i]
			id, ok := t.NumericID()
			if !ok {
				return fmt.Errorf("trade id %q is not a number: %w", t.TradeID, collector.ErrPermanent)
			}
			if ids {
				if id <= cursor {
					continue
				}
				if id >= g.BeforeID {
					return nil
				}
				if id > cursor+1 {
					hole := a.cur
					hole.From, hole.AfterID, hole.BeforeID, hole.To = at, cursor, id, t.Time
					if err := a.splitOff(ctx, hole, ReasonHistoryUnavailable,
						fmt.Sprintf("the exchange served trade %d next after %d", id, cursor)); err != nil {
						return err
					}
					if a.res.Rows == 0 {
						// Nothing filled yet: the gap starts after the hole.
						rest := a.cur
						rest.From, rest.AfterID = t.Time, id-1
						if err := a.narrow(ctx, rest); err != nil {
							return err
						}
					}
				}
			} else {
				if !t.Time.After(g.From) || (cursor > 0 && id <= cursor) {
					continue
				}
				if !t.Time.Before(g.To) {
					return nil
				}
			}
			if err := a.accept(ctx, t); err != nil {
				return err
			}
			cursor, at = id, t.Time
			a.progress(t.Time)
		}
		if len(page) == 0 {
			if ids && cursor < g.BeforeID-1 {
				hole := a.cur
				hole.From, hole.AfterID, hole.BeforeID = at, cursor, g.BeforeID
				detail := "the exchange served no trade after id " + strconv.FormatInt(cursor, 10)
				if a.res.Rows == 0 {
					a.final = &Part{Gap: hole, Reason: ReasonHistoryUnavailable, Detail: detail}
					return nil
				}
				return a.splitOff(ctx, hole, ReasonHistoryUnavailable, detail)
			}
			return nil
		}
		// Go on from just before the page's last trade rather than from
		// the exchange's cursor, so that trades sharing the last one's time
		// are served again whether the exchange's since is inclusive or
		// exclusive (those already kept are skipped by id); the cursor only
		// when a whole page shares one time.
		cont := page[len(page)-1].Time.Add(-time.Nanosecond)
		if !cont.After(since) {
			cont = next
		}
		if !cont.After(since) {
			return errors.New("trade history cursor did not move forward")
		}
		since = cont
	}
}

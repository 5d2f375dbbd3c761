package backfill

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.uber.org/zap"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/store"
)

// candlePageBuckets is the fewest bar intervals one Candles call covers on
// every exchange (OKX 100, Coinbase 300, Binance 1000): a page that returns
// less is continued from its start plus this many intervals.
const candlePageBuckets = 100

// tradePage is the page size asked of Trades (capped by each exchange).
const tradePage = 1000

// candleTailSettle is how long after a candle gap's last bucket closed a
// missing tail is waited for rather than taken as buckets without trades:
// an exchange's REST history may not serve a candle the moment its bucket
// closes, and an adapter leaves out buckets not yet ended by the host's
// clock, which may be behind the exchange's. Gaps found from a forming
// candle or a trade end at the bucket that has just closed.
const candleTailSettle = time.Minute

// attempt is one attempt at filling one gap.
type attempt struct {
	f   *Filler
	row store.GapRow
	h   collector.History
	res *Result
	// cur is the part of the gap still to fill.
	cur market.Gap
	// final, when set, makes the whole remaining gap unfillable.
	final *Part
}

func (a *attempt) run(ctx context.Context) error {
	a.cur = a.row.Gap
	switch a.cur.Stream.Type {
	case market.TypeTrade:
		if th, ok := a.h.(collector.TimedHistory); ok {
			return a.tradesByTime(ctx, th)
		}
		return a.trades(ctx)
	case market.TypeCandle:
		return a.candles(ctx)
	}
	a.final = &Part{Gap: a.cur, Reason: ReasonUnsupported, Detail: fmt.Sprintf("no REST history for data type %q", a.cur.Stream.Type)}
	return nil
}

// call runs one request, waiting out 429/418 answers (the exchange's budget
// pauses too) up to MaxThrottles in a row.
func (a *attempt) call(ctx context.Context, fn func() error) error {
	ex := a.cur.Stream.Exchange
	for n := 0; ; n++ {
		err := fn()
		var ra *collector.RetryAfterError
		if !errors.As(err, &ra) {
			if err == nil {
				a.res.Pages++
			}
			return err
		}
		a.res.Throttled++
		a.f.mu.Lock()
		a.f.throttled[ex]++
		a.f.mu.Unlock()
		if n+1 >= a.f.cfg.MaxThrottles {
			return fmt.Errorf("%d rate-limit answers in a row: %w", n+1, err)
		}
		t := time.NewTimer(max(ra.After, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// accept hands one record to the sink and counts it.
func (a *attempt) accept(ctx context.Context, rec market.Record) error {
	if err := a.f.cfg.Sink.Accept(ctx, rec); err != nil {
		if errors.Is(err, market.ErrRejected) {
			// Refused again (and kept in rejects again): the gap is not
			// reopened, or a record the exchange serves wrong would be
			// fetched for ever; its rejects rows say what is missing.
			return nil
		}
		return fmt.Errorf("hand on %s: %w", rec.Stream(), err)
	}
	a.res.Rows++
	st := rec.Stream()
	a.f.mu.Lock()
	m := a.f.rows[st.Exchange]
	if m == nil {
		m = map[market.DataType]int64{}
		a.f.rows[st.Exchange] = m
	}
	m[st.Type]++
	a.f.mu.Unlock()
	return nil
}

func (a *attempt) progress(pos time.Time) {
	if a.f.cfg.OnProgress != nil {
		a.f.cfg.OnProgress(Progress{GapID: a.row.ID, Stream: a.cur.Stream, Pages: a.res.Pages, Rows: a.res.Rows, Position: pos})
	}
}

// splitOff records part as its own unfillable row.
func (a *attempt) splitOff(ctx context.Context, part market.Gap, reason, detail string) error {
	part.Reason = a.row.Gap.Reason
	if _, err := a.f.cfg.Gaps.AddUnfillable(ctx, part, a.row.Attempts, reason, detail); err != nil {
		return err
	}
	a.res.Unfillable = append(a.res.Unfillable, Part{Gap: part, Reason: reason, Detail: detail})
	a.f.log.Warn("backfill: part of a gap unfillable", zap.Int64("gap_id", a.row.ID), zap.Stringer("part", part), zap.String("reason", reason), zap.String("detail", detail))
	return nil
}

// narrow stores the part still to fill as the gap's bounds.
func (a *attempt) narrow(ctx context.Context, g market.Gap) error {
	a.cur = g
	return a.f.cfg.Gaps.Narrow(ctx, a.row.ID, g)
}

func (a *attempt) cutoff() time.Time { return a.f.cfg.Now().Add(-a.f.cfg.MaxLookback) }

// numbered is a trade with its numeric id.
type numbered struct {
	id int64
	t  market.Trade
}

// page returns up to limit trades with ids > after, oldest first.
func (a *attempt) page(ctx context.Context, after int64, limit int) ([]numbered, error) {
	var got []market.Trade
	err := a.call(ctx, func() error {
		var err error
		got, err = a.h.Trades(ctx, a.cur.Stream.Symbol, after, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]numbered, 0, len(got))
	for _, t := range got {
		id, ok := t.NumericID()
		if !ok {
			return nil, fmt.Errorf("trade id %q is not a number: %w", t.TradeID, collector.ErrPermanent)
		}
		out = append(out, numbered{id: id, t: t})
	}
	return out, nil
}

// probe returns the first trade with an id > after.
func (a *attempt) probe(ctx context.Context, after int64) (numbered, bool, error) {
	p, err := a.page(ctx, after, 1)
	if err != nil || len(p) == 0 {
		return numbered{}, false, err
	}
	return p[0], true, nil
}

// trades fills a trade gap by paging trade ids from AfterID to BeforeID.
// A gap bounded by time only gets its ids from the stored trades around
// it, or by searching the exchange's history.
func (a *attempt) trades(ctx context.Context) error {
	g := a.cur
	after, before := g.AfterID, g.BeforeID
	timeBound := !g.HasIDs()
	if timeBound {
		var err error
		after, before, err = a.f.cfg.Gaps.TradeIDsAround(ctx, g.Stream, g.From, g.To)
		if err != nil {
			return err
		}
		if after == 0 && before == 0 {
			a.final = &Part{Gap: g, Reason: ReasonNoTradeID,
				Detail: "no stored trade before or after the window to page trade ids from; give the trade id bounds (etl backfill --after-id/--before-id)"}
			return nil
		}
		if before == 0 {
			before = math.MaxInt64 // stop at the first trade at or after To
		}
		if after == 0 {
			// The last trade at or before From: the smallest a whose next
			// trade is after From.
			L, H := int64(0), before-1
			if t, ok, err := a.probe(ctx, L); err != nil {
				return err
			} else if !ok || !t.t.Time.After(g.From) {
				for H-L > 1 {
					m := L + (H-L)/2
					t, ok, err := a.probe(ctx, m)
					if err != nil {
						return err
					}
					if ok && (t.id >= before || t.t.Time.After(g.From)) {
						H = m
					} else {
						L = m
					}
				}
				after = H
			}
		}
	}
	if before <= after+1 {
		return nil
	}
	// Skip what is older than the lookback limit or than the exchange
	// serves: the smallest a whose next trade is usable.
	cutoff := a.cutoff()
	usable := func(t numbered) bool { return t.id >= before || !t.t.Time.Before(cutoff) }
	first, ok, err := a.probe(ctx, after)
	if err != nil {
		return err
	}
	if !ok && g.Reason == market.GapRejected {
		// The refused trade proves that the exchange traded past after: a
		// history serving nothing after it has not caught up yet (the trade
		// after the refused one may not exist yet). Not unavailable: tried
		// again with backoff.
		return fmt.Errorf("fill %s: the exchange serves no trade after id %d yet, though it published a later one (refused as it arrived)", g.Stream, after)
	}
	if !ok || !usable(first) {
		reason, detail := ReasonHistoryUnavailable, "the exchange served no trade after id "+strconv.FormatInt(after, 10)
		if ok {
			reason, detail = ReasonLookbackLimit, "older than the lookback limit (BACKFILL_MAX_LOOKBACK) of "+a.f.cfg.MaxLookback.String()
		}
		L, H := after, before-1
		var found numbered
		haveFound := false
		for H-L > 1 {
			m := L + (H-L)/2
			t, ok, err := a.probe(ctx, m)
			if err != nil {
				return err
			}
			if ok && usable(t) {
				H, found, haveFound = m, t, true
				continue
			}
			L = m
			if ok {
				reason, detail = ReasonLookbackLimit, "older than the lookback limit (BACKFILL_MAX_LOOKBACK) of "+a.f.cfg.MaxLookback.String()
			} else {
				reason, detail = ReasonHistoryUnavailable, "the exchange served no trade after id "+strconv.FormatInt(m, 10)
			}
		}
		if !haveFound {
			t, ok, err := a.probe(ctx, H)
			if err != nil {
				return err
			}
			found, haveFound = t, ok && usable(t)
		}
		if !haveFound || found.id >= before {
			a.final = &Part{Gap: g, Reason: reason, Detail: detail}
			return nil
		}
		old := g
		old.AfterID, old.BeforeID, old.To = after, H+1, found.t.Time
		if err := a.splitOff(ctx, old, reason, detail); err != nil {
			return err
		}
		after = H
		rest := g
		rest.From, rest.AfterID, rest.BeforeID = found.t.Time, after, before
		if before == math.MaxInt64 {
			rest.BeforeID = 0
		}
		if err := a.narrow(ctx, rest); err != nil {
			return err
		}
	}
	cursor := after
	for cursor < before-1 {
		p, err := a.page(ctx, cursor, tradePage)
		if err != nil {
			return err
		}
		keep := p
		for i, t := range p {
			if t.id >= before || (timeBound && !t.t.Time.Before(g.To)) {
				keep = p[:i]
				break
			}
		}
		if len(p) == 0 {
			if before == math.MaxInt64 {
				return nil // no newer trade: the window is complete
			}
			hole := a.cur
			hole.AfterID, hole.BeforeID = cursor, before
			detail := "the exchange served no trade after id " + strconv.FormatInt(cursor, 10)
			if cursor == after && a.res.Rows == 0 {
				a.final = &Part{Gap: hole, Reason: ReasonHistoryUnavailable, Detail: detail}
				return nil
			}
			return a.splitOff(ctx, hole, ReasonHistoryUnavailable, detail)
		}
		if first := p[0]; first.id > cursor+1 && first.id < before {
			hole := a.cur
			hole.AfterID, hole.BeforeID, hole.To = cursor, first.id, first.t.Time
			if err := a.splitOff(ctx, hole, ReasonHistoryUnavailable,
				fmt.Sprintf("the exchange served trade %d next after %d", first.id, cursor)); err != nil {
				return err
			}
			if a.res.Rows == 0 && cursor == a.cur.AfterID {
				// Nothing filled yet: the gap starts after the hole.
				rest := a.cur
				rest.From, rest.AfterID = first.t.Time, first.id-1
				if err := a.narrow(ctx, rest); err != nil {
					return err
				}
			}
		}
		for i := range keep {
			if err := a.accept(ctx, &keep[i].t); err != nil {
				return err
			}
		}
		if len(keep) > 0 {
			cursor = keep[len(keep)-1].id
			a.progress(keep[len(keep)-1].t.Time)
		}
		if len(keep) < len(p) {
			return nil
		}
	}
	return nil
}

// servesCandle reports whether the exchange still serves the closed candle
// of st opening at open; false when open is not a bucket's open time.
func (a *attempt) servesCandle(ctx context.Context, st market.Stream, open time.Time) (bool, error) {
	tf := st.Timeframe
	if !tf.Truncate(open).Equal(open) {
		return false, nil
	}
	var page []market.Candle
	err := a.call(ctx, func() error {
		var err error
		page, err = a.h.Candles(ctx, st.Symbol, tf, open, open.Add(tf.Duration()))
		return err
	})
	if err != nil {
		return false, err
	}
	return len(page) > 0 && page[0].Time.Equal(open), nil
}

// candles fills a candle gap: candles opening after From and before To,
// paged by open time.
func (a *attempt) candles(ctx context.Context) error {
	g := a.cur
	tf := g.Stream.Timeframe
	d := tf.Duration()
	if d <= 0 {
		a.final = &Part{Gap: g, Reason: ReasonUnsupported, Detail: fmt.Sprintf("unknown timeframe %q", tf)}
		return nil
	}
	// The first bucket opening after From.
	start := tf.Truncate(g.From).Add(d)
	end := g.To
	if !end.After(start) {
		return nil
	}
	lookback := "older than the lookback limit (BACKFILL_MAX_LOOKBACK) of " + a.f.cfg.MaxLookback.String()
	cut := a.cutoff()
	if c := tf.Truncate(cut); c.Before(cut) {
		cut = c.Add(d)
	}
	if start.Before(cut) {
		if !end.After(cut) {
			a.final = &Part{Gap: g, Reason: ReasonLookbackLimit, Detail: lookback}
			return nil
		}
		old := g
		old.To = cut
		if err := a.splitOff(ctx, old, ReasonLookbackLimit, lookback); err != nil {
			return err
		}
		rest := g
		rest.From = cut.Add(-d)
		if err := a.narrow(ctx, rest); err != nil {
			return err
		}
		start = cut
	}
	seen := false
	// served is the end of the last bucket served.
	served := start
	for cur := start; cur.Before(end); {
		var page []market.Candle
		err := a.call(ctx, func() error {
			var err error
			page, err = a.h.Candles(ctx, g.Stream.Symbol, tf, cur, end)
			return err
		})
		if err != nil {
			return err
		}
		next := cur.Add(candlePageBuckets * d)
		if len(page) > 0 {
			quiet := false
			if !seen && page[0].Time.After(start) {
				// Nothing served before the first candle: older than the
				// exchange's history, or buckets without trades (an
				// exchange may serve no candle for those). When the gap
				// starts at a candle held (an aligned From), the exchange
				// serving that candle tells the two apart.
				var err error
				if quiet, err = a.servesCandle(ctx, g.Stream, g.From); err != nil {
					return err
				}
			}
			if !seen && page[0].Time.After(start) && !quiet {
				hole := a.cur
				hole.From, hole.To = start.Add(-d), page[0].Time
				if err := a.splitOff(ctx, hole, ReasonHistoryUnavailable, "the exchange served no candle before "+page[0].Time.UTC().Format(time.RFC3339)); err != nil {
					return err
				}
			}
			seen = true
			for i := range page {
				if err := a.accept(ctx, &page[i]); err != nil {
					return err
				}
			}
			if last := page[len(page)-1].Time.Add(d); last.After(next) {
				next = last
			}
			if last := page[len(page)-1].Time.Add(d); last.After(served) {
				served = last
			}
		}
		a.progress(minTime(next, end))
		cur = next
	}
	if now := a.f.cfg.Now(); served.Before(end) && now.Before(end.Add(candleTailSettle)) {
		// Retried with the backoff: the candles served so far are stored
		// again, harmlessly.
		return fmt.Errorf("fill %s: the exchange serves no candle from %s to %s yet; they closed %s ago, less than the %s a missing tail is waited for",
			g.Stream, served.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), now.Sub(end).Round(time.Second), candleTailSettle)
	}
	if !seen {
		a.final = &Part{Gap: g, Reason: ReasonHistoryUnavailable, Detail: "the exchange served no candle in the window"}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

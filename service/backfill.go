package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"marketetl/backfill"
	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/config"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/store"
)

// backfillParts are the gap filler and what it works through.
type backfillParts struct {
	filler *backfill.Filler
	gaps   *store.Gaps
	sink   *pipeline.Pipeline
}

// restBudgets holds each exchange's REST budget, shared by all of that
// exchange's REST calls (backfill and candle reconciliation).
type restBudgets map[market.Exchange]*wire.Budget

// newRESTBudgets builds each registered exchange's budget from its
// registry entry. A 429 or 418 pauses the exchange's whole budget for
// Retry-After or the entry's default.
func newRESTBudgets(cfg config.Config, exchanges Registry) restBudgets {
	b := restBudgets{}
	for ex, e := range exchanges {
		if e.Budget != nil {
			b[ex] = wire.NewBudget(e.Budget(cfg))
		}
	}
	return b
}

// client returns a copy of base for ex's REST calls, within its budget.
func (b restBudgets) client(ex market.Exchange, base *http.Client) *http.Client {
	c := *base
	if bu := b[ex]; bu != nil {
		c.Transport = bu.Transport(base.Transport)
	}
	return &c
}

// adapters builds every registered exchange's adapter against ep, each
// with its exchange's budgeted client.
func (b restBudgets) adapters(exchanges Registry, ep Endpoints, base *http.Client) (map[market.Exchange]Adapter, error) {
	names := make([]market.Exchange, 0, len(exchanges))
	for ex := range exchanges {
		names = append(names, ex)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	out := make(map[market.Exchange]Adapter, len(names))
	for _, ex := range names {
		e := exchanges[ex]
		if e.New == nil {
			return nil, fmt.Errorf("exchange %s: no constructor registered", ex)
		}
		a, err := e.New(ep, b.client(ex, base))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ex, err)
		}
		out[ex] = a
	}
	return out, nil
}

// buildBackfill builds the gap filler: it records every gap in the gaps
// table and, with BACKFILL_ENABLED, fills them from the adapters' REST
// history through a second pipeline with the same checker and store but
// no publisher (backfilled rows are not pushed on the live feed).
func (s *Service) buildBackfill() error {
	// Backfilled rows go to the writer itself, which blocks while its
	// queue is full, not through the spool: a fill waits for the database
	// rather than have its rows dropped when the spool is full.
	sink, err := pipeline.New(pipeline.Config{Checker: s.checker, Store: s.writer, Raw: encodeRaw})
	if err != nil {
		return err
	}
	hist := map[market.Exchange]collector.History{}
	if s.cfg.BackfillEnabled {
		for ex, a := range s.adapters {
			hist[ex] = a
		}
	}
	gaps := store.NewGaps(s.pool)
	bcfg := backfill.Config{
		Histories: hist, Sink: sink, Gaps: gaps, Sync: s.writer.Sync, MaxLookback: s.cfg.BackfillMaxLookback,
		OnProgress: s.opts.onProgress, Log: s.log.Named("backfill"),
	}
	if s.opts.backfillConfig != nil {
		s.opts.backfillConfig(&bcfg)
	}
	f, err := backfill.New(bcfg)
	if err != nil {
		return err
	}
	s.backfill = &backfillParts{filler: f, gaps: gaps, sink: sink}
	if s.spoolGaps != nil {
		s.spoolGaps.attach(f)
	}
	return nil
}

// gapRecorder is what the collectors report gaps to: the filler, or nil.
func (s *Service) gapRecorder() collector.GapRecorder {
	if s.backfill == nil {
		return nil
	}
	return s.backfill.filler
}

// runBackfill runs fn and, unless manual or absent, the filler beside it
// under ctx; both have returned when it returns, before the writer is
// told to drain.
func (s *Service) runBackfill(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.backfill == nil || s.opts.backfill == backfillManual {
		return fn(ctx)
	}
	done := make(chan error, 1)
	fctx, stop := context.WithCancel(ctx)
	go func() { done <- s.backfill.filler.Run(fctx) }()
	err := fn(ctx)
	stop()
	return errors.Join(err, <-done)
}

// backfillStatus reports gaps and REST budgets for GET /api/status.
func (s *Service) backfillStatus() map[string]any {
	if s.backfill == nil {
		return map[string]any{"enabled": false}
	}
	out := map[string]any{"enabled": s.cfg.BackfillEnabled}
	// The counts cached by the admin API's read cache: a request queries
	// nothing.
	if s.gapCounts != nil {
		if counts, ok := s.gapCounts(); ok {
			out["gaps"] = counts.ByStatus
			out["filled_rows"] = counts.FilledRows
		} else {
			out["gaps_error"] = "not known: see database.gaps_error"
		}
	}
	st := s.backfill.filler.Stats()
	out["queued"] = st.Queued
	out["received"] = st.Received
	out["merged_in_queue"] = st.MergedInQueue
	out["failures"] = st.Failures
	rest := map[string]any{}
	for ex, b := range s.budgets {
		bs := b.Stats()
		e := map[string]any{"requests": bs.Requests, "throttled": bs.Throttled, "banned": bs.Banned}
		if !bs.PausedUntil.IsZero() {
			e["paused_until"] = bs.PausedUntil
		}
		rest[string(ex)] = e
	}
	out["rest"] = rest
	return out
}

package collector

import (
	"context"
	"fmt"
	"testing"

	"marketetl/market"
)

// refusingSink refuses the records refuse selects, the way the pipeline
// does when validation refuses one: kept as a reject, ErrRejected returned.
type refusingSink struct {
	*recSink
	refuse func(market.Record) bool
}

func (s refusingSink) Accept(ctx context.Context, r market.Record) error {
	if s.refuse(r) {
		return fmt.Errorf("%s: %w", r.Stream(), market.ErrRejected)
	}
	return s.recSink.Accept(ctx, r)
}

// A refused trade or closed candle never moves continuity on without a
// gap: each is covered by a rejected gap (refused trades in a row by
// overlapping windows, bounded by their exact ids), and the records after
// them follow on without another gap.
func TestRefusedRecordsAreCoveredByGaps(t *testing.T) {
	ts := tradeStream("BTC-USD")
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	rig := newRouterRig(t, []market.Stream{ts, cs}, nil)
	refuse := map[string]bool{"4": true, "5": true}
	rig.r.sink = refusingSink{recSink: rig.sink, refuse: func(r market.Record) bool {
		switch v := r.(type) {
		case *market.Trade:
			return refuse[v.TradeID]
		case *market.Candle:
			return v.Time.Equal(at(t0 + 60))
		}
		return false
	}}
	for i, id := range []int64{3, 4, 5, 6} {
		rig.route(t, 1, Event{Records: []market.Record{tradeRec("BTC-USD", id, t0+int64(i))}})
	}
	for _, open := range []int64{t0, t0 + 60, t0 + 120} {
		rig.route(t, 1, Event{Records: []market.Record{closedCandle("BTC-USD", open)}})
	}
	checkGaps(t, rig.gaps.snapshot(),
		market.Gap{Stream: ts, From: at(t0), To: at(t0 + 1).Add(refusedMargin), AfterID: 3, BeforeID: 5, Reason: market.GapRejected},
		market.Gap{Stream: ts, From: at(t0 + 1), To: at(t0 + 2).Add(refusedMargin), AfterID: 4, BeforeID: 6, Reason: market.GapRejected},
		market.Gap{Stream: cs, From: at(t0), To: at(t0 + 120), Reason: market.GapRejected},
	)
	if recs, _ := rig.sink.snapshot(); fmt.Sprint(ids(recs)) != "[BTC-USD/3 BTC-USD/6 BTC-USD/candle@0 BTC-USD/candle@120]" {
		t.Errorf("handed on %v", ids(recs))
	}
}

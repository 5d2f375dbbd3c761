package collector

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"marketetl/market"
)

// routerRig is a router with a recording sink, gap log and reconciliation
// queue: the routing, tested without a socket.
type routerRig struct {
	r         *router
	sink      *recSink
	gaps      *gapLog
	reconcile []*market.Candle
}

// newRouterRig routes the wanted streams; aggregated are candles built
// from trades.
func newRouterRig(t *testing.T, wanted []market.Stream, aggregated []market.Stream) *routerRig {
	t.Helper()
	rig := &routerRig{sink: newSink(), gaps: &gapLog{}}
	ps := NewPositions()
	rig.r = &router{
		exchange: market.Coinbase, sink: rig.sink, st: newTracker("t", market.Coinbase, time.Now), dedup: newDedup(),
		log: zap.NewNop(), now: time.Now, gaps: rig.gaps, run: ps.next(), seqIDs: true,
		reconcile: func(cd *market.Candle) { rig.reconcile = append(rig.reconcile, cd) },
	}
	agg, err := newAggregators(aggregated, true, nil, rig.r.reconcile)
	if err != nil {
		t.Fatal(err)
	}
	w := map[string]market.Stream{}
	tracked := map[market.Stream]*position{}
	for _, s := range append(slices.Clone(wanted), aggregated...) {
		w[s.String()], tracked[s] = s, ps.get(s)
	}
	// As the collector does: the tracker lists the streams first, so that
	// the routes keep their status entries.
	rig.r.st.setStreams(append(slices.Clone(wanted), aggregated...))
	rig.r.setRoutes(w, tracked, agg)
	return rig
}

func (rig *routerRig) route(t *testing.T, session uint64, ev Event) {
	t.Helper()
	if err := rig.r.route(t.Context(), "conn", &ev, time.Now(), session); err != nil {
		t.Fatalf("route: %v", err)
	}
}

func tradeRec(sym string, id int64, sec int64) *market.Trade {
	return &market.Trade{Meta: market.Meta{Exchange: market.Coinbase, Symbol: market.Symbol(sym), Time: at(sec), Received: at(sec)},
		TradeID: strconv.FormatInt(id, 10), Price: decimal.RequireFromString("100"), Size: decimal.RequireFromString("1"), Side: market.Buy}
}

func closedCandle(sym string, sec int64) *market.Candle {
	return &market.Candle{Meta: market.Meta{Exchange: market.Coinbase, Symbol: market.Symbol(sym), Time: at(sec)},
		Timeframe: market.TF1m, Closed: true}
}

// ids returns the trade ids of recs, "candle" for candles.
func ids(recs []market.Record) []string {
	var out []string
	for _, r := range recs {
		switch v := r.(type) {
		case *market.Trade:
			out = append(out, string(v.Symbol)+"/"+v.TradeID)
		case *market.Candle:
			out = append(out, string(v.Symbol)+"/candle@"+strconv.FormatInt(v.Time.Unix()-t0, 10))
		}
	}
	return out
}

func TestRouterDeliversWantedInOrderWithoutDuplicates(t *testing.T) {
	rig := newRouterRig(t, []market.Stream{tradeStream("BTC-USD")}, nil)
	rig.route(t, 1, Event{Records: []market.Record{tradeRec("BTC-USD", 1, t0), tradeRec("BTC-USD", 2, t0+1)}})
	// A frame resent after a reconnect, then new trades, one of a stream
	// nobody asked for.
	rig.route(t, 2, Event{Records: []market.Record{tradeRec("BTC-USD", 2, t0+1), tradeRec("ETH-USD", 7, t0+2), tradeRec("BTC-USD", 3, t0+2)}})
	recs, _ := rig.sink.snapshot()
	if got, want := ids(recs), []string{"BTC-USD/1", "BTC-USD/2", "BTC-USD/3"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	st := rig.r.st.snapshot()
	if rig.r.st.duplicates != 1 || st.Records != 3 || st.Streams[tradeStream("BTC-USD").String()].Records != 3 {
		t.Errorf("duplicates %d records %d stream %+v; want 1, 3, 3", rig.r.st.duplicates, st.Records, st.Streams)
	}
	if g := rig.gaps.snapshot(); len(g) != 0 {
		t.Errorf("gaps %v for trades that follow each other", g)
	}
}

// TestRouterKeepsStreamStateAcrossNewRoutes: a stream kept when the
// routes are replaced keeps what it handed on (a trade resent afterwards is
// still a duplicate) and its status counters; a stream added is counted
// from its first record.
func TestRouterKeepsStreamStateAcrossNewRoutes(t *testing.T) {
	btc, eth := tradeStream("BTC-USD"), tradeStream("ETH-USD")
	rig := newRouterRig(t, []market.Stream{btc}, nil)
	rig.route(t, 1, Event{Records: []market.Record{tradeRec("BTC-USD", 1, t0), tradeRec("BTC-USD", 2, t0+1)}})

	ps := NewPositions()
	streams := []market.Stream{btc, eth}
	w, tracked := map[string]market.Stream{}, map[market.Stream]*position{}
	for _, s := range streams {
		w[s.String()], tracked[s] = s, ps.get(s)
	}
	rig.r.st.setStreams(streams)
	rig.r.setRoutes(w, tracked, nil)
	rig.route(t, 1, Event{Records: []market.Record{tradeRec("BTC-USD", 2, t0+1), tradeRec("BTC-USD", 3, t0+2), tradeRec("ETH-USD", 1, t0+2)}})

	recs, _ := rig.sink.snapshot()
	if got, want := ids(recs), []string{"BTC-USD/1", "BTC-USD/2", "BTC-USD/3", "ETH-USD/1"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	st := rig.r.st.snapshot()
	if rig.r.st.duplicates != 1 || st.Records != 4 || st.Streams[btc.String()].Records != 3 || st.Streams[eth.String()].Records != 1 {
		t.Errorf("duplicates %d records %d streams %+v; want 1, 4, BTC 3 and ETH 1", rig.r.st.duplicates, st.Records, st.Streams)
	}
}

func TestRouterAcksRefusalsAndRejects(t *testing.T) {
	s := tradeStream("BTC-USD")
	rig := newRouterRig(t, []market.Stream{s}, nil)
	rig.route(t, 1, Event{Acked: []market.Stream{s}})
	if !rig.r.st.snapshot().Streams[s.String()].Subscribed {
		t.Fatal("acknowledged stream not subscribed")
	}
	rig.route(t, 1, Event{Err: &ExchangeError{Exchange: market.Coinbase, Code: "7", Message: "no", Stream: s}})
	st := rig.r.st.snapshot()
	if ss := st.Streams[s.String()]; ss.Subscribed || ss.LastError == "" || st.Errors != 1 {
		t.Errorf("after a refusal: stream %+v errors %d; want unsubscribed with its error, 1 error", ss, st.Errors)
	}
	rig.r.reject(t.Context(), &DecodeError{Stream: s, Reason: ReasonUnknownChannel, Field: "type"}, []byte("{}"), at(t0))
	_, rejects := rig.sink.snapshot()
	if len(rejects) != 1 || rejects[0].Reason != ReasonUnknownChannel || rejects[0].Symbol != "BTC-USD" || string(rejects[0].Raw) != "{}" {
		t.Errorf("rejects %+v, want one %s for BTC-USD with its frame", rejects, ReasonUnknownChannel)
	}
}

func TestRouterGapContinuity(t *testing.T) {
	type step struct {
		session uint64
		id      int64
	}
	tests := []struct {
		name  string
		steps []step
		want  []market.Gap // From, To, AfterID, BeforeID and Reason compared
	}{
		{name: "consecutive ids", steps: []step{{1, 10}, {1, 11}, {1, 12}}},
		{name: "one id missing", steps: []step{{1, 10}, {1, 12}},
			want: []market.Gap{{From: at(t0 + 10), To: at(t0 + 12), AfterID: 10, BeforeID: 12, Reason: market.GapTradeIDJump}}},
		{name: "hole across a reconnect", steps: []step{{1, 10}, {2, 15}},
			want: []market.Gap{{From: at(t0 + 10), To: at(t0 + 15), AfterID: 10, BeforeID: 15, Reason: market.GapDisconnect}}},
		{name: "reconnect without a hole", steps: []step{{1, 10}, {2, 11}}},
		{name: "older id is out of order, not a gap", steps: []step{{1, 10}, {1, 8}, {1, 11}}},
		{name: "made here (session 0) is not checked", steps: []step{{1, 10}, {0, 20}, {1, 11}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rig := newRouterRig(t, []market.Stream{tradeStream("BTC-USD")}, nil)
			for _, s := range tc.steps {
				rec := tradeRec("BTC-USD", s.id, t0+s.id)
				if s.session == 0 {
					if err := rig.r.deliver(t.Context(), rec, time.Now(), 0); err != nil {
						t.Fatal(err)
					}
					continue
				}
				rig.route(t, s.session, Event{Records: []market.Record{rec}})
			}
			var got []market.Gap
			for _, g := range rig.gaps.snapshot() {
				got = append(got, market.Gap{From: g.From, To: g.To, AfterID: g.AfterID, BeforeID: g.BeforeID, Reason: g.Reason})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("gaps %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRouterClosedCandles(t *testing.T) {
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	rig := newRouterRig(t, []market.Stream{cs}, nil)
	open := closedCandle("BTC-USD", t0+180)
	open.Closed = false
	rig.route(t, 1, Event{Records: []market.Record{closedCandle("BTC-USD", t0), closedCandle("BTC-USD", t0+60), open, closedCandle("BTC-USD", t0+240)}})
	recs, _ := rig.sink.snapshot()
	if got, want := ids(recs), []string{"BTC-USD/candle@0", "BTC-USD/candle@60", "BTC-USD/candle@180", "BTC-USD/candle@240"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	g := rig.gaps.snapshot()
	if len(g) != 1 || g[0].Reason != market.GapCandleMissing || !g[0].From.Equal(at(t0+60)) || !g[0].To.Equal(at(t0+240)) {
		t.Errorf("gaps %v, want one candle_missing from +60s to +240s (the open candle does not count)", g)
	}
	if len(rig.reconcile) != 3 {
		t.Errorf("%d candles scheduled for reconciliation, want the 3 closed", len(rig.reconcile))
	}
}

func TestRouterBuildsCandlesFromTrades(t *testing.T) {
	ts := tradeStream("BTC-USD")
	built := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	rig := newRouterRig(t, []market.Stream{ts}, []market.Stream{built})
	rig.route(t, 1, Event{Records: []market.Record{tradeRec("BTC-USD", 1, t0+1), tradeRec("BTC-USD", 2, t0+30)}})
	// The next minute's trade closes the first bucket; a heartbeat past the
	// second closes that one without a trade.
	rig.route(t, 1, Event{Records: []market.Record{tradeRec("BTC-USD", 3, t0+61)}})
	rig.route(t, 1, Event{Heartbeat: true, HeartbeatStream: ts, HeartbeatTime: at(t0 + 125)})
	// The first bucket opened before the stream was seen: it is
	// provisional, never closed; the second was seen whole.
	var closed, provisional []string
	recs, _ := rig.sink.snapshot()
	for _, r := range recs {
		if cd, ok := r.(*market.Candle); ok {
			id := ids([]market.Record{cd})[0] + "/" + strconv.FormatInt(cd.Trades, 10)
			switch {
			case cd.Closed:
				closed = append(closed, id)
			case cd.Provisional:
				provisional = append(provisional, id)
			}
		}
	}
	if want := []string{"BTC-USD/candle@60/1"}; !slices.Equal(closed, want) {
		t.Errorf("closed built candles %v, want %v", closed, want)
	}
	if want := []string{"BTC-USD/candle@0/2"}; !slices.Equal(provisional, want) {
		t.Errorf("provisional built candles %v, want %v", provisional, want)
	}
	if len(rig.reconcile) != 2 {
		t.Errorf("%d built candles scheduled for reconciliation, want 2 (the provisional and the closed)", len(rig.reconcile))
	}
	if g := rig.gaps.snapshot(); len(g) != 0 {
		t.Errorf("gaps %v: built candles are not checked", g)
	}
}

// A sink that blocks until ctx ends makes route return ctx's error.
func TestRouterStopsWithContext(t *testing.T) {
	rig := newRouterRig(t, []market.Stream{tradeStream("BTC-USD")}, nil)
	rig.r.sink = blockingSink{}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ev := Event{Records: []market.Record{tradeRec("BTC-USD", 1, t0)}}
	if err := rig.r.route(ctx, "conn", &ev, time.Now(), 1); err != context.Canceled {
		t.Errorf("route with an ended context: %v, want context.Canceled", err)
	}
}

type blockingSink struct{}

func (blockingSink) Accept(ctx context.Context, _ market.Record) error {
	<-ctx.Done()
	return ctx.Err()
}
func (blockingSink) Reject(ctx context.Context, _ market.Reject) error {
	<-ctx.Done()
	return ctx.Err()
}

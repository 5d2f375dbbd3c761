package collector

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"marketetl/market"
)

// gapLog is a GapRecorder that keeps what it is given.
type gapLog struct {
	mu   sync.Mutex
	gaps []market.Gap
}

func (l *gapLog) RecordGap(g market.Gap) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gaps = append(l.gaps, g)
}

func (l *gapLog) snapshot() []market.Gap {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]market.Gap(nil), l.gaps...)
}

const t0 = int64(1700000040) // a minute boundary

func at(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func trade(id int64, sec int64) string { return fmt.Sprintf("trade BTC-USD %d 10 1 %d", id, sec) }

func countedTrade(id int64, sec int64, count int) string {
	return fmt.Sprintf("trade BTC-USD %d 10 1 %d %d", id, sec, count)
}

func records(sink *recSink) int { r, _ := sink.snapshot(); return len(r) }

// checkGaps compares the gaps recorded with want, field by field (Detected
// is only required to be set).
func checkGaps(t *testing.T, got []market.Gap, want ...market.Gap) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d gaps %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Detected.IsZero() {
			t.Errorf("gap %d: Detected not set", i)
		}
		g.Detected = time.Time{}
		if g.Stream != w.Stream || !g.From.Equal(w.From) || !g.To.Equal(w.To) || g.AfterID != w.AfterID ||
			g.BeforeID != w.BeforeID || g.Reason != w.Reason {
			t.Errorf("gap %d:\n got %s (%+v)\nwant %s (%+v)", i, g, g, w, w)
		}
	}
}

// checkGapLog checks the gaps of log as checkGaps does, once it holds as
// many as want: the router records a record's gap after handing the record
// on, so a test that waited for the records may look before the gap is in.
func checkGapLog(t *testing.T, log *gapLog, want ...market.Gap) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d gaps", len(want)), func() bool { return len(log.snapshot()) >= len(want) })
	checkGaps(t, log.snapshot(), want...)
}

// startGapCollector starts a collector of BTC-USD trades with a gap log and
// waits for its subscription.
func startGapCollector(t *testing.T, ls *lineServer, p *lineProto, cfg Config) (*Collector, *recSink, *gapLog, func()) {
	t.Helper()
	sink, gaps := newSink(), &gapLog{}
	cfg.Name = "t"
	if cfg.Streams == nil {
		cfg.Streams = []market.Stream{tradeStream("BTC-USD")}
	}
	cfg.Gaps = gaps
	n := ls.count("sub ")
	c, stop := startCollector(t, cfg, p, sink)
	waitFor(t, "subscribe", func() bool { return ls.count("sub ") == n+1 })
	return c, sink, gaps, stop
}

func TestTradeIDJumpRecordsOneGapWithExactIDs(t *testing.T) {
	ls := newLineServer(t)
	c, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), seqIDs: true}, Config{})
	defer stop()
	// 4..6 are missing, then 9 alone.
	for _, f := range []string{trade(1, t0), trade(2, t0+1), trade(3, t0+2), trade(7, t0+5), trade(8, t0+6), trade(10, t0+7)} {
		ls.broadcast(f)
	}
	waitFor(t, "6 trades", func() bool { return records(sink) == 6 })
	checkGapLog(t, gaps,
		market.Gap{Stream: tradeStream("BTC-USD"), From: at(t0 + 2), To: at(t0 + 5), AfterID: 3, BeforeID: 7, Reason: market.GapTradeIDJump},
		market.Gap{Stream: tradeStream("BTC-USD"), From: at(t0 + 6), To: at(t0 + 7), AfterID: 8, BeforeID: 10, Reason: market.GapTradeIDJump})
	st := c.Status()
	if st.Gaps != 2 || st.Streams["coinbase:trade:BTC-USD"].Gaps != 2 {
		t.Errorf("status counts %d gaps, stream %+v; want 2", st.Gaps, st.Streams["coinbase:trade:BTC-USD"])
	}
}

func TestAggregatedTradesCoverTheirIDs(t *testing.T) {
	ls := newLineServer(t)
	_, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), seqIDs: true}, Config{})
	defer stop()
	// 8 with count 3 covers 6..8 (no gap after 5); 12 with count 2 covers
	// 11..12, so 9 and 10 are missing.
	for _, f := range []string{countedTrade(5, t0, 1), countedTrade(8, t0+1, 3), countedTrade(12, t0+2, 2), countedTrade(13, t0+3, 0)} {
		ls.broadcast(f)
	}
	waitFor(t, "4 trades", func() bool { return records(sink) == 4 })
	checkGapLog(t, gaps, market.Gap{Stream: tradeStream("BTC-USD"), From: at(t0 + 1), To: at(t0 + 2),
		AfterID: 8, BeforeID: 11, Reason: market.GapTradeIDJump})
}

func TestOutOfOrderTradeIsNoGap(t *testing.T) {
	ls := newLineServer(t)
	c, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), seqIDs: true}, Config{})
	defer stop()
	for _, f := range []string{trade(5, t0), trade(6, t0+1), trade(4, t0+1), trade(7, t0+2)} {
		ls.broadcast(f)
	}
	waitFor(t, "4 trades", func() bool { return records(sink) == 4 })
	checkGaps(t, gaps.snapshot())
	if n := c.Status().Streams["coinbase:trade:BTC-USD"].OutOfOrder; n != 1 {
		t.Errorf("out of order %d, want 1", n)
	}
}

func TestReconnectGaps(t *testing.T) {
	tests := []struct {
		name  string
		after []string // trades sent after the reconnect
		want  []market.Gap
	}{
		{name: "lost trades", after: []string{trade(5, t0+9), trade(6, t0+10)},
			want: []market.Gap{{Stream: tradeStream("BTC-USD"), From: at(t0 + 1), To: at(t0 + 9), AfterID: 2, BeforeID: 5, Reason: market.GapDisconnect}}},
		{name: "nothing lost", after: []string{trade(3, t0+9), trade(4, t0+10)}},
		{name: "resent then continued", after: []string{trade(2, t0+1), trade(3, t0+9), trade(4, t0+10)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ls := newLineServer(t)
			c, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), seqIDs: true}, Config{})
			defer stop()
			ls.broadcast(trade(1, t0))
			ls.broadcast(trade(2, t0+1))
			waitFor(t, "2 trades", func() bool { return records(sink) == 2 })
			ls.dropAll()
			waitFor(t, "resubscribed", func() bool { return ls.count("sub ") == 2 })
			for _, f := range tc.after {
				ls.broadcast(f)
			}
			waitFor(t, "4 trades", func() bool { return records(sink) == 4 })
			checkGapLog(t, gaps, tc.want...)
			if st := c.Status(); st.Gaps != uint64(len(tc.want)) || st.Reconnects != 1 {
				t.Errorf("status: %d gaps, %d reconnects; want %d and 1", st.Gaps, st.Reconnects, len(tc.want))
			}
		})
	}
}

// Without sequential ids, a reconnect opens a window by time.
func TestReconnectWithoutSequentialIDsOpensTimeWindow(t *testing.T) {
	ls := newLineServer(t)
	_, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url()}, Config{})
	defer stop()
	ls.broadcast(trade(1, t0))
	ls.broadcast(trade(9, t0+1)) // ids mean nothing here: no gap
	waitFor(t, "2 trades", func() bool { return records(sink) == 2 })
	checkGaps(t, gaps.snapshot())
	ls.dropAll()
	waitFor(t, "resubscribed", func() bool { return ls.count("sub ") == 2 })
	ls.broadcast(trade(10, t0+7))
	ls.broadcast(trade(11, t0+8))
	waitFor(t, "4 trades", func() bool { return records(sink) == 4 })
	checkGapLog(t, gaps, market.Gap{Stream: tradeStream("BTC-USD"), From: at(t0 + 1), To: at(t0 + 7), Reason: market.GapDisconnect})
}

func candleFrame(open int64, closed bool) string {
	c := 0
	if closed {
		c = 1
	}
	return fmt.Sprintf("candle BTC-USD 1m %d 10 12 9 11 3 %d", open, c)
}

func TestMissingClosedCandleRecordsOneGap(t *testing.T) {
	ls := newLineServer(t)
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	c, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), candles: true},
		Config{Streams: []market.Stream{cs}})
	defer stop()
	for _, f := range []string{
		candleFrame(t0, false), candleFrame(t0, true), candleFrame(t0+60, true),
		candleFrame(t0+120, false), // forming only: its closed version is lost
		candleFrame(t0+180, false), candleFrame(t0+180, true), candleFrame(t0+240, true),
	} {
		ls.broadcast(f)
	}
	waitFor(t, "7 candles", func() bool { return records(sink) == 7 })
	checkGapLog(t, gaps, market.Gap{Stream: cs, From: at(t0 + 60), To: at(t0 + 180), Reason: market.GapCandleMissing})
	if n := c.Status().Streams[cs.String()].Gaps; n != 1 {
		t.Errorf("stream gaps %d, want 1", n)
	}
}

func TestRestartResumesFromSharedPositions(t *testing.T) {
	ls := newLineServer(t)
	p := &lineProto{url: ls.url(), seqIDs: true}
	pos := NewPositions()
	_, sink, gaps, stop := startGapCollector(t, ls, p, Config{Positions: pos})
	ls.broadcast(trade(1, t0))
	ls.broadcast(trade(2, t0+1))
	waitFor(t, "2 trades", func() bool { return records(sink) == 2 })
	stop()
	checkGaps(t, gaps.snapshot())

	// The supervisor builds a new collector with the same positions.
	_, sink, gaps, stop = startGapCollector(t, ls, p, Config{Positions: pos})
	defer stop()
	ls.broadcast(trade(6, t0+9))
	waitFor(t, "a trade", func() bool { return records(sink) == 1 })
	checkGapLog(t, gaps, market.Gap{Stream: tradeStream("BTC-USD"), From: at(t0 + 1), To: at(t0 + 9),
		AfterID: 2, BeforeID: 6, Reason: market.GapRestart})
}

func TestResumeSeedsFromStorage(t *testing.T) {
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	ts := tradeStream("BTC-USD")
	ls := newLineServer(t)
	var mu sync.Mutex
	var asked [][]market.Stream
	resume := func(_ context.Context, streams []market.Stream) (map[market.Stream]Last, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, streams)
		return map[market.Stream]Last{ts: {Time: at(t0), TradeID: 40}, cs: {Time: at(t0)}}, nil
	}
	pos := NewPositions()
	cfg := Config{Streams: []market.Stream{ts, cs}, Positions: pos, Resume: resume}
	_, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), seqIDs: true, candles: true}, cfg)
	ls.broadcast(trade(41, t0+70)) // follows the stored trade: no gap
	ls.broadcast(trade(45, t0+71))
	ls.broadcast(candleFrame(t0+120, true))
	waitFor(t, "3 records", func() bool { return records(sink) == 3 })
	stop()
	checkGapLog(t, gaps,
		market.Gap{Stream: ts, From: at(t0 + 70), To: at(t0 + 71), AfterID: 41, BeforeID: 45, Reason: market.GapTradeIDJump},
		market.Gap{Stream: cs, From: at(t0), To: at(t0 + 120), Reason: market.GapRestart},
	)
	// A restart with the same positions does not ask storage again.
	_, _, _, stop = startGapCollector(t, ls, &lineProto{url: ls.url(), seqIDs: true, candles: true}, cfg)
	stop()
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || len(asked[0]) != 2 {
		t.Errorf("storage asked %v, want once for both streams", asked)
	}
}

func TestResumeFromStorageWithLostTrades(t *testing.T) {
	ts := tradeStream("BTC-USD")
	ls := newLineServer(t)
	resume := func(context.Context, []market.Stream) (map[market.Stream]Last, error) {
		return map[market.Stream]Last{ts: {Time: at(t0), TradeID: 40}}, nil
	}
	_, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), seqIDs: true}, Config{Resume: resume})
	defer stop()
	ls.broadcast(trade(44, t0+70))
	waitFor(t, "a trade", func() bool { return records(sink) == 1 })
	checkGapLog(t, gaps, market.Gap{Stream: ts, From: at(t0), To: at(t0 + 70), AfterID: 40, BeforeID: 44, Reason: market.GapRestart})
}

func TestResumeErrorIsRetriedAtNextRun(t *testing.T) {
	ls := newLineServer(t)
	calls := 0
	var mu sync.Mutex
	resume := func(context.Context, []market.Stream) (map[market.Stream]Last, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return nil, fmt.Errorf("database down")
	}
	pos := NewPositions()
	for range 2 {
		_, _, _, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), seqIDs: true}, Config{Positions: pos, Resume: resume})
		stop()
	}
	mu.Lock()
	defer mu.Unlock()
	if calls < 2 {
		t.Errorf("storage asked %d times, want at least 2 (a failure is retried)", calls)
	}
}

// TestTradeIDOrderWithoutDedup: the position's own comparison of ids (for
// a trade resent beyond the deduplication window), for ids that fit int64
// and for longer ones alike: the same id again and a lower one are out of
// order and move nothing; the next id follows; a jump is a gap between the
// ids.
func TestTradeIDOrderWithoutDedup(t *testing.T) {
	for _, base := range []string{"", "1234567890123456789012"} {
		t.Run("ids "+base+"N", func(t *testing.T) {
			r := &router{st: newTracker("t", market.Coinbase, time.Now), run: 1, seqIDs: true}
			r.st.setStreams([]market.Stream{tradeStream("BTC-USD")})
			p := &position{}
			tr := func(id int, sec int64) *market.Trade {
				return &market.Trade{Meta: market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: at(sec)}, TradeID: base + fmt.Sprint(id)}
			}
			var found []string
			for i, x := range []*market.Trade{tr(10, t0), tr(10, t0+1), tr(9, t0+2), tr(11, t0+3), tr(15, t0+4)} {
				if g, ok := r.continuity(p, x, 1); ok {
					found = append(found, fmt.Sprintf("%d: %s..%s", i, g.From.Format("05"), g.To.Format("05")))
				}
			}
			if want := []string{"4: 03..04"}; !slices.Equal(found, want) {
				t.Errorf("gaps %v, want %v", found, want)
			}
			if n := r.st.snapshot().Streams["coinbase:trade:BTC-USD"].OutOfOrder; n != 2 {
				t.Errorf("out of order %d, want 2 (the same id, then a lower one)", n)
			}
			if p.sid != base+"15" {
				t.Errorf("position at id %s, want %s15", p.sid, base)
			}
		})
	}
}

// The hot path allocates nothing for records that follow their stream.
func TestContinuityAllocatesNothing(t *testing.T) {
	c := &router{st: newTracker("t", market.Coinbase, time.Now), run: 1, seqIDs: true}
	const runs = 100
	trades := make([]market.Trade, runs+2)
	candles := make([]market.Candle, runs+2)
	for i := range trades {
		trades[i] = market.Trade{Meta: market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: at(t0 + int64(i))},
			TradeID: fmt.Sprint(1000 + i)}
		candles[i] = market.Candle{Meta: market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: at(t0 + 60*int64(i))},
			Timeframe: market.TF1m, Closed: true}
	}
	tp, cp := &position{}, &position{}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		if _, found := c.continuity(tp, &trades[i], 1); found {
			t.Fatal("gap")
		}
		if _, found := c.continuity(cp, &candles[i], 1); found {
			t.Fatal("gap")
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per record, want 0", allocs)
	}
}

func TestBuiltCandleGaps(t *testing.T) {
	at := func(hms string) time.Time {
		v, err := time.Parse(time.DateTime, "2026-01-02 "+hms)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	trades := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeTrade}
	candles := func(tf market.Timeframe) market.Stream {
		return market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: tf}
	}
	g := market.Gap{Stream: trades, From: at("10:00:30"), To: at("10:03:10"), AfterID: 7, BeforeID: 90, Reason: market.GapRestart}
	got := builtCandleGaps(g, []market.Timeframe{market.TF1m, market.TF5m})
	want := []market.Gap{{
		Stream: candles(market.TF1m), From: at("10:00:00").Add(-time.Nanosecond), To: at("10:03:00"), Reason: market.GapRestart,
	}}
	if !slices.Equal(got, want) {
		t.Errorf("candle gaps\n got %v\nwant %v", got, want)
	}
	if got := builtCandleGaps(market.Gap{Stream: trades, From: at("10:00:01"), To: at("10:00:59")}, []market.Timeframe{market.TF1m}); len(got) != 0 {
		t.Errorf("a hole inside one bucket gave candle gaps %v", got)
	}
}

// startTakenOverCandles starts a collector of BTC-USD trades and 1m
// candles whose stored data ends at t0 (trade 40 and the candle of t0), as
// after a takeover, and returns the candle stream.
func startTakenOverCandles(t *testing.T, ls *lineServer) (market.Stream, *recSink, *gapLog, func()) {
	t.Helper()
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	ts := tradeStream("BTC-USD")
	resume := func(context.Context, []market.Stream) (map[market.Stream]Last, error) {
		return map[market.Stream]Last{ts: {Time: at(t0), TradeID: 40}, cs: {Time: at(t0)}}, nil
	}
	cfg := Config{Streams: []market.Stream{ts, cs}, Resume: resume}
	_, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), seqIDs: true, candles: true}, cfg)
	return cs, sink, gaps, stop
}

// A collector that took a stream over (its positions come from storage)
// and receives trades but no candle yet: each trade shows the buckets
// before its own closed on the exchange, so the candle stream's restart
// gap is recorded from the trades, growing with them, and not only when
// (or if) a closed candle arrives. Once the candle stream delivers, the
// trades no longer move it.
func TestSilentCandleStreamGapFromTrades(t *testing.T) {
	ls := newLineServer(t)
	cs, sink, gaps, stop := startTakenOverCandles(t, ls)
	defer stop()
	ls.broadcast(trade(41, t0+70))  // in the bucket after the stored candle's: nothing missing yet
	ls.broadcast(trade(42, t0+130)) // the bucket t0+60 has closed unseen
	ls.broadcast(trade(43, t0+250)) // so have t0+120 and t0+180
	waitFor(t, "3 trades", func() bool { return records(sink) == 3 })
	restart := []market.Gap{
		{Stream: cs, From: at(t0), To: at(t0 + 120), Reason: market.GapRestart},
		{Stream: cs, From: at(t0 + 60), To: at(t0 + 240), Reason: market.GapRestart},
	}
	checkGapLog(t, gaps, restart...)

	// The candle stream delivers: its forming candle is where the gaps
	// end, and later trades leave it to its own candles.
	ls.broadcast(candleFrame(t0+240, false))
	ls.broadcast(trade(44, t0+310))
	ls.broadcast(candleFrame(t0+240, true))
	ls.broadcast(candleFrame(t0+300, true))
	waitFor(t, "7 records", func() bool { return records(sink) == 7 })
	checkGapLog(t, gaps, restart...)
}

// The first candle a collector that took a stream over delivers may be a
// forming one: it shows every bucket before it closed, so the restart gap
// is recorded at once, not when the first closed candle arrives (up to a
// timeframe later, or never when the collector stops first). Its closed
// version then follows the gap without another.
func TestFirstFormingCandleRecordsTheRestartGap(t *testing.T) {
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	ls := newLineServer(t)
	resume := func(context.Context, []market.Stream) (map[market.Stream]Last, error) {
		return map[market.Stream]Last{cs: {Time: at(t0)}}, nil
	}
	cfg := Config{Streams: []market.Stream{cs}, Resume: resume}
	_, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), candles: true}, cfg)
	defer stop()
	ls.broadcast(candleFrame(t0+300, false))
	waitFor(t, "a candle", func() bool { return records(sink) == 1 })
	restart := market.Gap{Stream: cs, From: at(t0), To: at(t0 + 300), Reason: market.GapRestart}
	checkGapLog(t, gaps, restart)

	ls.broadcast(candleFrame(t0+300, true))
	ls.broadcast(candleFrame(t0+360, false))
	ls.broadcast(candleFrame(t0+360, true))
	waitFor(t, "4 candles", func() bool { return records(sink) == 4 })
	checkGapLog(t, gaps, restart)
}

// When the stored end is not known yet (reading it failed; it is retried),
// a first candle that is forming is kept aside like a closed one: the
// restart gap up to it is recorded once the stored end is known, and the
// candles after it are checked from it on, so that its own closed version
// going missing is a gap too.
func TestFormingCandleWhileTheStoredEndIsAsked(t *testing.T) {
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	ls := newLineServer(t)
	var mu sync.Mutex
	calls := 0
	resume := func(context.Context, []market.Stream) (map[market.Stream]Last, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return nil, fmt.Errorf("database down")
		}
		return map[market.Stream]Last{cs: {Time: at(t0)}}, nil
	}
	cfg := Config{Streams: []market.Stream{cs}, Resume: resume}
	_, sink, gaps, stop := startGapCollector(t, ls, &lineProto{url: ls.url(), candles: true}, cfg)
	defer stop()
	ls.broadcast(candleFrame(t0+300, false))
	waitFor(t, "the restart gap, once the stored end is read again", func() bool { return len(gaps.snapshot()) == 1 })
	// The closed candles of t0+300 and t0+360 never come.
	ls.broadcast(candleFrame(t0+420, true))
	waitFor(t, "2 candles", func() bool { return records(sink) == 2 })
	checkGapLog(t, gaps,
		market.Gap{Stream: cs, From: at(t0), To: at(t0 + 300), Reason: market.GapRestart},
		market.Gap{Stream: cs, From: at(t0 + 240), To: at(t0 + 420), Reason: market.GapCandleMissing})
}

// A closed candle that arrives after a trade of the next bucket (the
// candles and the trades come over different connections) is one the
// trades already counted in the restart gap: it is no new gap, and it
// shows the candle stream delivering, so the trades stop moving it.
func TestLateClosedCandleEndsTheTradesGaps(t *testing.T) {
	ls := newLineServer(t)
	cs, sink, gaps, stop := startTakenOverCandles(t, ls)
	defer stop()
	ls.broadcast(trade(41, t0+190))         // t0+60 and t0+120 closed unseen
	ls.broadcast(candleFrame(t0+120, true)) // late, and counted already
	ls.broadcast(trade(42, t0+250))         // t0+180 is the candle stream's own to deliver
	ls.broadcast(candleFrame(t0+180, true))
	waitFor(t, "4 records", func() bool { return records(sink) == 4 })
	checkGapLog(t, gaps, market.Gap{Stream: cs, From: at(t0), To: at(t0 + 180), Reason: market.GapRestart})
}

// BenchmarkTradeContinuity checks trades of Binance-sized ids (ten digits),
// each following the last, against their stream's position.
func BenchmarkTradeContinuity(b *testing.B) {
	r := &router{st: newTracker("t", market.Binance, time.Now), run: 1, seqIDs: true}
	const n = 1 << 12
	trades := make([]market.Trade, n)
	for i := range trades {
		trades[i] = market.Trade{Meta: market.Meta{Exchange: market.Binance, Symbol: "BTC-USDT", Time: at(t0 + int64(i))},
			TradeID: fmt.Sprint(3_000_000_000 + i)}
	}
	b.ReportAllocs()
	i := 0
	p := &position{}
	for b.Loop() {
		if i%n == 0 {
			p = &position{}
		}
		if _, found := r.continuity(p, &trades[i%n], 1); found {
			b.Fatal("gap")
		}
		i++
	}
}

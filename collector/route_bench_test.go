package collector

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// nopSink takes every record.
type nopSink struct{}

func (nopSink) Accept(context.Context, market.Record) error { return nil }
func (nopSink) Reject(context.Context, market.Reject) error { return nil }

// BenchmarkRoute routes decoded trades of two symbols, one closed 1m
// candle after every nine trades, through the router to a sink that takes them
// (deduplication, gap detection, the clock skew estimate, status): the
// collector's own work per record, decoding and the pipeline left out.
func BenchmarkRoute(b *testing.B) {
	syms := []market.Symbol{"BTC-USD", "ETH-USD"}
	var streams []market.Stream
	for _, s := range syms {
		streams = append(streams, market.Stream{Exchange: market.Coinbase, Symbol: s, Type: market.TypeTrade},
			market.Stream{Exchange: market.Coinbase, Symbol: s, Type: market.TypeCandle, Timeframe: market.TF1m})
	}
	c, err := New(Config{Name: "b", Streams: streams, ClockSkew: NewClockSkew()}, &lineProto{url: "ws://127.0.0.1:1", candles: true, seqIDs: true}, nopSink{})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1 << 16
	recs := make([]market.Record, 0, n)
	start := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	price, size := decimal.RequireFromString("42219.90"), decimal.RequireFromString("0.00123")
	ids := map[market.Symbol]int{}
	for i := range n {
		sym := syms[i%2]
		at := start.Add(time.Duration(i) * time.Millisecond)
		if i%20 >= 18 { // one candle of each symbol after every 18 trades
			recs = append(recs, &market.Candle{Meta: market.Meta{Exchange: market.Coinbase, Symbol: sym, Time: start.Add(time.Duration(i/20) * time.Minute), Received: at},
				Timeframe: market.TF1m, Open: price, High: price, Low: price, Close: price, Volume: size, Closed: true})
			continue
		}
		ids[sym]++
		recs = append(recs, &market.Trade{Meta: market.Meta{Exchange: market.Coinbase, Symbol: sym, Time: at, Received: at},
			TradeID: strconv.Itoa(1_000_000 + ids[sym]), Price: price, Size: size, Side: market.Buy})
	}
	ctx := b.Context()
	session := c.positions.next()
	ev := &Event{Records: make([]market.Record, 1)}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	defer func() { cpuPerOp(b, cpu0) }()
	i := 0
	for b.Loop() {
		rec := recs[i%n]
		if i%n == 0 && i > 0 {
			// A new round of the same records: start afresh.
			c.route.dedup = newDedup()
			c.positions = NewPositions()
			if err := c.setStreams(streams); err != nil {
				b.Fatal(err)
			}
			session = c.positions.next()
		}
		i++
		ev.Records[0] = rec
		if err := c.route.route(ctx, "only", ev, rec.Header().Received, session); err != nil {
			b.Fatal(err)
		}
	}
}

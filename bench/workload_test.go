package bench

import (
	"bytes"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/service"
)

var anchor = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// adapters returns each exchange's real adapter, which the frames must
// decode with.
func adapters(t *testing.T) map[market.Exchange]collector.Protocol {
	t.Helper()
	out := map[market.Exchange]collector.Protocol{}
	for ex, e := range exchange.Registry() {
		a, err := e.New(service.Endpoints{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out[ex] = a
	}
	return out
}

// splitFrames parses back-to-back unmasked frames into their payloads.
func splitFrames(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(data) > 0 {
		if data[0] != opText {
			t.Fatalf("frame starts with %#x, want a final text frame", data[0])
		}
		n, hdr := int(data[1]), 2
		switch n {
		case 126:
			n, hdr = int(data[2])<<8|int(data[3]), 4
		case 127:
			n, hdr = 0, 10
			for _, b := range data[2:10] {
				n = n<<8 | int(b)
			}
		}
		out = append(out, data[hdr:hdr+n])
		data = data[hdr+n:]
	}
	return out
}

// TestFramesDecodeToTheWorkload checks, for every exchange, that the
// pre-generated frames are the exchange's real format: its adapter
// decodes them into exactly the records generated, decimals included.
func TestFramesDecodeToTheWorkload(t *testing.T) {
	protos := adapters(t)
	for _, ex := range market.Exchanges() {
		t.Run(string(ex), func(t *testing.T) {
			w := Workload{Exchange: ex, Seed: 7, Trades: 300, CandleEvery: 10, Slot: 1, Now: anchor}
			var want []market.Record
			if err := w.generate(func(rec market.Record) error { want = append(want, rec); return nil }); err != nil {
				t.Fatal(err)
			}
			c := w.Counts()
			if len(want) != c.Records() {
				t.Fatalf("generated %d records, Counts says %d", len(want), c.Records())
			}
			frames, err := encodeFrames(w)
			if err != nil {
				t.Fatal(err)
			}
			// The adapter decodes only what it planned.
			var streams []market.Stream
			for _, sym := range symbols(ex) {
				streams = append(streams, market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade})
				if c.Candles > 0 {
					streams = append(streams, market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeCandle, Timeframe: market.TF1m})
				}
			}
			if _, err := protos[ex].Plan(streams); err != nil {
				t.Fatal(err)
			}
			byChannel := map[string][]market.Record{}
			for _, rec := range want {
				ch := channelOf(ex, rec)
				byChannel[ch] = append(byChannel[ch], rec)
			}
			for ch, f := range frames {
				payloads := splitFrames(t, f.data)
				if len(payloads) != f.n() || len(payloads) != len(byChannel[ch]) {
					t.Fatalf("channel %s: %d payloads, %d ends, %d records", ch, len(payloads), f.n(), len(byChannel[ch]))
				}
				for i, p := range payloads {
					var ev collector.Event
					if err := protos[ex].Decode(p, anchor, &ev); err != nil {
						t.Fatalf("channel %s frame %d %s: %v", ch, i, p, err)
					}
					if len(ev.Records) != 1 {
						t.Fatalf("channel %s frame %d: %d records", ch, i, len(ev.Records))
					}
					assertSame(t, byChannel[ch][i], ev.Records[0])
				}
			}
		})
	}
}

// sameDecimal reports whether a and b are equal with the same scale.
func sameDecimal(a, b decimal.Decimal) bool { return a.Equal(b) && a.Exponent() == b.Exponent() }

// assertSame compares the fields the workload sets, decimals by their text
// (scale included).
func assertSame(t *testing.T, want, got market.Record) {
	t.Helper()
	switch w := want.(type) {
	case *market.Trade:
		g, ok := got.(*market.Trade)
		if !ok || g.Symbol != w.Symbol || g.TradeID != w.TradeID || !g.Time.Equal(w.Time) || g.Side != w.Side ||
			!sameDecimal(g.Price, w.Price) || !sameDecimal(g.Size, w.Size) {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
	case *market.Candle:
		g, ok := got.(*market.Candle)
		if !ok || g.Symbol != w.Symbol || g.Timeframe != w.Timeframe || !g.Time.Equal(w.Time) || g.Closed != w.Closed ||
			!sameDecimal(g.Open, w.Open) || !sameDecimal(g.High, w.High) || !sameDecimal(g.Low, w.Low) ||
			!sameDecimal(g.Close, w.Close) || !sameDecimal(g.Volume, w.Volume) ||
			!sameDecimal(g.QuoteVolume.Decimal, w.QuoteVolume.Decimal) || g.Trades != w.Trades {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
	default:
		t.Fatalf("unexpected %T", want)
	}
}

func TestWorkloadIsDeterministicAndSlotsDoNotOverlap(t *testing.T) {
	w := Workload{Exchange: market.Binance, Seed: 3, Trades: 1000, CandleEvery: 10, Slot: 0, Now: anchor}
	a, err := encodeFrames(w)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeFrames(w)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a[chanBinance].data, b[chanBinance].data) {
		t.Fatal("the same workload produced different frames")
	}
	next := w
	next.Slot = 1
	last := func(w Workload) (tr time.Time, cd time.Time) {
		_ = w.generate(func(rec market.Record) error {
			if rec.DataType() == market.TypeTrade {
				tr = rec.Header().Time
			} else {
				cd = rec.Header().Time
			}
			return nil
		})
		return tr, cd
	}
	tr, cd := last(w)
	if !tr.Before(next.tradeBase()) || !cd.Before(next.candleBase()) {
		t.Fatalf("slot 0 ends at trade %s candle %s, slot 1 starts at %s and %s", tr, cd, next.tradeBase(), next.candleBase())
	}
	if tr.After(anchor) || cd.Add(time.Minute).After(anchor) {
		t.Fatalf("records after the anchor: %s, %s", tr, cd)
	}
	for _, bad := range []Workload{
		{Exchange: "nasdaq", Now: anchor},
		{Exchange: market.OKX, Slot: maxSlots, Now: anchor},
		{Exchange: market.OKX, Trades: int(slotSpan/tradeStep) + 1, Now: anchor},
		{Exchange: market.OKX, Trades: 10},
	} {
		if err := bad.generate(func(market.Record) error { return nil }); err == nil {
			t.Errorf("workload %+v: no error", bad)
		}
	}
}

func TestAppendFrameLengths(t *testing.T) {
	for _, n := range []int{0, 125, 126, 0xffff, 0x10000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		got := splitFrames(t, appendTextFrame(nil, payload))
		if len(got) != 1 || !bytes.Equal(got[0], payload) {
			t.Fatalf("payload of %d bytes did not round-trip", n)
		}
	}
	// gorilla agrees on the opcodes.
	if opText&0x0f != websocket.TextMessage || opPing&0x0f != websocket.PingMessage {
		t.Fatal("opcodes")
	}
}

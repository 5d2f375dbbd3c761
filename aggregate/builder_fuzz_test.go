package aggregate

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// bucket is the reference aggregate of one bucket: the trades a builder
// folded in, computed the obvious way.
type bucket struct {
	open, high, low, close, volume, quote decimal.Decimal
	trades                                int64
	first, last                           time.Time
	closed                                bool
}

func (r *bucket) add(t *market.Trade) {
	if r.trades == 0 {
		r.open, r.high, r.low, r.close = t.Price, t.Price, t.Price, t.Price
		r.volume, r.quote = t.Size, t.Price.Mul(t.Size)
		r.first, r.last, r.trades = t.Time, t.Time, 1
		return
	}
	if t.Time.Before(r.first) {
		r.open, r.first = t.Price, t.Time
	}
	if !t.Time.Before(r.last) {
		r.close, r.last = t.Price, t.Time
	}
	r.high, r.low = decimal.Max(r.high, t.Price), decimal.Min(r.low, t.Price)
	r.volume, r.quote = r.volume.Add(t.Size), r.quote.Add(t.Price.Mul(t.Size))
	r.trades++
}

// sameAs reports how c differs from r, or "".
func (r *bucket) sameAs(c *market.Candle) string {
	if !c.Open.Equal(r.open) || !c.High.Equal(r.high) || !c.Low.Equal(r.low) || !c.Close.Equal(r.close) ||
		!c.Volume.Equal(r.volume) || !c.QuoteVolume.Valid || !c.QuoteVolume.Decimal.Equal(r.quote) || c.Trades != r.trades {
		return fmt.Sprintf("candle %s, reference %s/%s/%s/%s v%s q%s n%d", show([]*market.Candle{c}),
			r.open, r.high, r.low, r.close, r.volume, r.quote, r.trades)
	}
	return ""
}

// reference follows one timeframe: the buckets and the floor below which a
// trade is late (the latest bucket folded into, or the bucket an Advance
// reached, whichever is later).
type reference struct {
	tf      market.Timeframe
	floor   time.Time
	buckets map[time.Time]*bucket
}

// FuzzBuilder plays a trade stream, with trades out of order and
// heartbeats, on a builder of 1m, 5m and 15m candles and on one builder per
// timeframe, and checks every candle against a reference aggregation: the
// multi-timeframe builder emits exactly what the single ones do, every
// forming update is the aggregate of the bucket's trades so far, every
// closed candle the aggregate of all of them, every bucket closes once, and
// a trade is late exactly when its bucket is below the floor.
func FuzzBuilder(f *testing.F) {
	f.Add([]byte{1, 0, 10, 5, 30, 0, 20, 7, 30, 0, 15, 3, 250, 0, 0, 0, 2, 200, 40, 9})
	f.Add([]byte{0, 0, 1, 1, 0, 0, 2, 2, 0, 0, 3, 3, 239, 130, 4, 4, 100, 255, 5, 5, 241, 0, 0, 0, 10, 129, 6, 6})
	f.Add([]byte{60, 0, 100, 10, 60, 150, 90, 20, 120, 0, 80, 30, 255, 0, 0, 0, 1, 250, 70, 40, 200, 0, 60, 50})
	f.Fuzz(playStream)
}

// TestRandomStreams runs FuzzBuilder's checks on long pseudo-random
// streams (the fuzz seeds are short).
func TestRandomStreams(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			data := make([]byte, 4096)
			for i := range data {
				data[i] = byte(r.UintN(256))
			}
			playStream(t, data)
		})
	}
}

// playStream is FuzzBuilder's body.
func playStream(t *testing.T, data []byte) {
	tfs := []market.Timeframe{market.TF1m, market.TF5m, market.TF15m}
	multi, err := New(market.Coinbase, "BTC-USD", tfs, Config{FormingEvery: EveryTrade})
	if err != nil {
		t.Fatal(err)
	}
	singles := make([]*Builder, len(tfs))
	refs := make([]*reference, len(tfs))
	for i, tf := range tfs {
		if singles[i], err = New(market.Coinbase, "BTC-USD", []market.Timeframe{tf}, Config{FormingEvery: EveryTrade}); err != nil {
			t.Fatal(err)
		}
		refs[i] = &reference{tf: tf, buckets: map[time.Time]*bucket{}}
	}
	var lateTrades uint64
	base := t0
	check := func(what string, got []*market.Candle, outs [][]*market.Candle) {
		t.Helper()
		var want []*market.Candle
		for _, o := range outs {
			want = append(want, o...)
		}
		if show(got) != show(want) {
			t.Fatalf("%s: multi-timeframe builder emitted\n%s\nsingle ones\n%s", what, show(got), show(want))
		}
	}
	closeChecked := func(ref *reference, c *market.Candle) {
		t.Helper()
		b := ref.buckets[c.Time]
		if b == nil || b.closed {
			t.Fatalf("%s candle %s closed twice or without trades", ref.tf, c.Time)
		}
		if diff := b.sameAs(c); diff != "" {
			t.Fatalf("closed %s", diff)
		}
		b.closed = true
	}
	for len(data) >= 4 {
		b0, b1, b2, b3 := data[0], data[1], data[2], data[3]
		data = data[4:]
		if b0 >= 240 { // a heartbeat
			now := base.Add(time.Duration(b0-240) * 20 * time.Second)
			outs := make([][]*market.Candle, len(tfs))
			for i, ref := range refs {
				outs[i] = singles[i].Advance(now, nil)
				for _, c := range outs[i] {
					if c.Closed == c.Provisional || !c.Received.Equal(now) {
						t.Fatalf("advance emitted %s", show([]*market.Candle{c}))
					}
					closeChecked(ref, c)
				}
				if cut := ref.tf.Truncate(now); cut.After(ref.floor) {
					ref.floor = cut
				}
			}
			check("advance", multi.Advance(now, nil), outs)
			continue
		}
		base = base.Add(time.Duration(b0) * time.Second)
		ts := base
		if b1 >= 128 { // out of order: up to 127s earlier
			ts = ts.Add(-time.Duration(b1-128) * time.Second)
		}
		tr := &market.Trade{
			Meta:  market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: ts, Received: base},
			Price: decimal.New(int64(b2)+1, -int32(b3%3)), Size: decimal.New(int64(b3%50)+1, -int32(b3%4)),
			Side: market.Sell, TradeID: "1",
		}
		outs := make([][]*market.Candle, len(tfs))
		anyLate := false
		for i, ref := range refs {
			start := ref.tf.Truncate(ts)
			wantLate := start.Before(ref.floor)
			before := singles[i].Late()
			outs[i] = singles[i].Add(tr, nil)
			if gotLate := singles[i].Late() > before; gotLate != wantLate {
				t.Fatalf("%s trade at %s (floor %s): late %v, want %v", ref.tf, ts, ref.floor, gotLate, wantLate)
			}
			if wantLate {
				anyLate = true
				if len(outs[i]) != 0 {
					t.Fatalf("late trade emitted %s", show(outs[i]))
				}
				continue
			}
			b := ref.buckets[start]
			if b == nil {
				b = &bucket{}
				ref.buckets[start] = b
			}
			b.add(tr)
			ref.floor = start
			n := len(outs[i])
			if n == 0 || n > 2 {
				t.Fatalf("%s: %d candles for one trade", ref.tf, n)
			}
			if n == 2 {
				closeChecked(ref, outs[i][0])
			}
			forming := outs[i][n-1]
			if forming.Closed || !forming.Time.Equal(start) || !forming.Received.Equal(tr.Received) {
				t.Fatalf("forming candle %s for a trade at %s", show([]*market.Candle{forming}), ts)
			}
			if diff := b.sameAs(forming); diff != "" {
				t.Fatalf("forming %s", diff)
			}
		}
		if anyLate {
			lateTrades++
		}
		check("trade", multi.Add(tr, nil), outs)
	}
	end := base.Add(30 * 24 * time.Hour)
	outs := make([][]*market.Candle, len(tfs))
	for i, ref := range refs {
		outs[i] = singles[i].Advance(end, nil)
		for _, c := range outs[i] {
			closeChecked(ref, c)
		}
		for start, b := range ref.buckets {
			if !b.closed {
				t.Fatalf("%s bucket %s never closed", ref.tf, start)
			}
		}
	}
	check("final advance", multi.Advance(end, nil), outs)
	if multi.Late() != lateTrades {
		t.Fatalf("late %d, want %d", multi.Late(), lateTrades)
	}
	if multi.Skipped() != 0 {
		t.Fatalf("skipped %d, want 0", multi.Skipped())
	}
}

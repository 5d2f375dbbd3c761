package validate

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

func TestTradeRules(t *testing.T) {
	trade := func(f func(*market.Trade)) func() market.Record {
		return func() market.Record { r := goodTrade(); f(r); return r }
	}
	runRules(t, []ruleCase{
		{name: "good trade", rec: trade(func(*market.Trade) {})},
		{name: "sell side accepted", rec: trade(func(r *market.Trade) { r.Side = market.Sell })},
		{name: "empty trade id", rec: trade(func(r *market.Trade) { r.TradeID = "" }), reason: EmptyTradeID, field: "trade_id"},
		{name: "zero price", rec: trade(func(r *market.Trade) { r.Price = dec("0.00") }), reason: NonPositivePrice, field: "price"},
		{name: "negative price", rec: trade(func(r *market.Trade) { r.Price = dec("-42219.9") }), reason: NonPositivePrice, field: "price"},
		{name: "absent price", rec: trade(func(r *market.Trade) { r.Price = decimal.Decimal{} }), reason: NonPositivePrice, field: "price"},
		{name: "zero size", rec: trade(func(r *market.Trade) { r.Size = dec("0") }), reason: NonPositiveSize, field: "size"},
		{name: "negative size", rec: trade(func(r *market.Trade) { r.Size = dec("-0.1") }), reason: NonPositiveSize, field: "size"},
		{name: "absent size", rec: trade(func(r *market.Trade) { r.Size = decimal.Decimal{} }), reason: NonPositiveSize, field: "size"},
		{name: "side other than buy or sell", rec: trade(func(r *market.Trade) { r.Side = "bid" }), reason: BadSide, field: "side"},
		{name: "empty side", rec: trade(func(r *market.Trade) { r.Side = "" }), reason: BadSide, field: "side"},
		{name: "upper-case side", rec: trade(func(r *market.Trade) { r.Side = "BUY" }), reason: BadSide, field: "side"},
	})
}

func TestCandleRules(t *testing.T) {
	candle := func(f func(*market.Candle)) func() market.Record {
		return func() market.Record { c := goodCandle(); f(c); return c }
	}
	runRules(t, []ruleCase{
		{name: "good closed candle", rec: candle(func(*market.Candle) {})},
		{name: "forming candle of the current minute", rec: candle(func(c *market.Candle) {
			c.Time, c.Closed = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), false
		})},
		{name: "weekly candle opening on a Monday", rec: candle(func(c *market.Candle) {
			c.Timeframe, c.Time = market.TF1w, time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
		})},
		{name: "flat candle: open = high = low = close", rec: candle(func(c *market.Candle) {
			c.Open, c.High, c.Low, c.Close = dec("42219.9"), dec("42219.90"), dec("42219.900"), dec("42219.9")
		})},
		{name: "zero volume and zero trades (interval without trades)", rec: candle(func(c *market.Candle) {
			c.Volume, c.QuoteVolume, c.Trades = dec("0"), ndec("0"), 0
		})},
		{name: "absent quote volume and unknown trade count", rec: candle(func(c *market.Candle) {
			c.QuoteVolume, c.Trades = decimal.NullDecimal{}, -1
		})},

		{name: "unknown timeframe", rec: candle(func(c *market.Candle) { c.Timeframe = "7m" }), reason: UnknownTimeframe, field: "timeframe"},
		{name: "empty timeframe", rec: candle(func(c *market.Candle) { c.Timeframe = "" }), reason: UnknownTimeframe, field: "timeframe"},
		{name: "open time off the minute", rec: candle(func(c *market.Candle) { c.Time = c.Time.Add(time.Second) }), reason: MisalignedTimestamp, field: "ts"},
		{name: "1h candle opening on a minute", rec: candle(func(c *market.Candle) {
			c.Timeframe, c.Time = market.TF1h, time.Date(2026, 11, 24, 9, 59, 0, 0, time.UTC)
		}), reason: MisalignedTimestamp, field: "ts"},
		{name: "weekly candle opening on a Sunday", rec: candle(func(c *market.Candle) {
			c.Timeframe, c.Time = market.TF1w, time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
		}), reason: MisalignedTimestamp, field: "ts"},
		{name: "zero open", rec: candle(func(c *market.Candle) { c.Open = dec("0") }), reason: NonPositivePrice, field: "open"},
		{name: "zero high", rec: candle(func(c *market.Candle) { c.High = dec("0") }), reason: NonPositivePrice, field: "high"},
		{name: "negative low", rec: candle(func(c *market.Candle) { c.Low = dec("-1") }), reason: NonPositivePrice, field: "low"},
		{name: "absent close", rec: candle(func(c *market.Candle) { c.Close = decimal.Decimal{} }), reason: NonPositivePrice, field: "close"},
		{name: "negative volume", rec: candle(func(c *market.Candle) { c.Volume = dec("-0.001") }), reason: NegativeVolume, field: "volume"},
		{name: "negative quote volume", rec: candle(func(c *market.Candle) { c.QuoteVolume = ndec("-1") }), reason: NegativeVolume, field: "quote_volume"},
		{name: "trade count below -1", rec: candle(func(c *market.Candle) { c.Trades = -2 }), reason: BadTradeCount, field: "trades"},
		{name: "high below low", rec: candle(func(c *market.Candle) {
			c.Open, c.High, c.Low, c.Close = dec("42200"), dec("42200"), dec("42200.5"), dec("42200")
		}), reason: HighBelowLow, field: "high"},
		{name: "high below close", rec: candle(func(c *market.Candle) { c.Close = dec("42230.5") }), reason: HighBelowOpenClose, field: "high"},
		{name: "high below open", rec: candle(func(c *market.Candle) { c.Open = dec("42230.01") }), reason: HighBelowOpenClose, field: "high"},
		{name: "low above open", rec: candle(func(c *market.Candle) { c.Open = dec("42200.5") }), reason: LowAboveOpenClose, field: "low"},
		{name: "low above close", rec: candle(func(c *market.Candle) { c.Close = dec("42200.549") }), reason: LowAboveOpenClose, field: "low"},
		{name: "closed before its interval ended", rec: candle(func(c *market.Candle) {
			c.Time = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
		}), reason: ClosedBeforeEnd, field: "closed"},
	})
}

func TestCandleClosedAtTheSkewLimit(t *testing.T) {
	// The 1m candle of 10:00 ends at 10:01:00; the clock reads 10:00:55 or
	// 10:00:54.999 and the allowance is 5s.
	open := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		clock time.Time
		want  Reason
	}{
		{name: "end equals clock plus allowance", clock: open.Add(55 * time.Second)},
		{name: "end one nanosecond beyond", clock: open.Add(55*time.Second - time.Nanosecond), want: ClosedBeforeEnd},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(Config{}, func() time.Time { return tc.clock })
			if err != nil {
				t.Fatal(err)
			}
			c := goodCandle()
			c.Time, c.Received = open, tc.clock
			var got Reason
			if r := v.Check(c); r != nil {
				got = r.Reason
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTickerRules(t *testing.T) {
	ticker := func(f func(*market.Ticker)) func() market.Record {
		return func() market.Record { r := goodTicker(); f(r); return r }
	}
	runRules(t, []ruleCase{
		{name: "good ticker", rec: ticker(func(*market.Ticker) {})},
		{name: "only bid and ask", rec: func() market.Record {
			return &market.Ticker{Meta: meta("BTC-USDT"), Bid: ndec("42219.9"), Ask: ndec("42220")}
		}},
		{name: "nothing but the last price", rec: func() market.Record {
			return &market.Ticker{Meta: meta("BTC-USDT"), Last: ndec("42219.9")}
		}},
		{name: "bid equal to ask", rec: ticker(func(r *market.Ticker) { r.Bid, r.Ask = ndec("42220.0"), ndec("42220") })},
		{name: "zero sizes and volumes", rec: ticker(func(r *market.Ticker) {
			r.BidSize, r.AskSize, r.Volume24h, r.QuoteVolume24h = ndec("0"), ndec("0"), ndec("0"), ndec("0")
		})},
		{name: "absent (invalid) zero price ignored", rec: ticker(func(r *market.Ticker) { r.Last = decimal.NullDecimal{} })},

		{name: "zero last", rec: ticker(func(r *market.Ticker) { r.Last = ndec("0") }), reason: NonPositivePrice, field: "last"},
		{name: "negative bid", rec: ticker(func(r *market.Ticker) { r.Bid = ndec("-1") }), reason: NonPositivePrice, field: "bid"},
		{name: "zero ask", rec: ticker(func(r *market.Ticker) { r.Ask = ndec("0") }), reason: NonPositivePrice, field: "ask"},
		{name: "zero 24h open", rec: ticker(func(r *market.Ticker) { r.Open24h = ndec("0") }), reason: NonPositivePrice, field: "open_24h"},
		{name: "zero 24h high", rec: ticker(func(r *market.Ticker) { r.High24h = ndec("0") }), reason: NonPositivePrice, field: "high_24h"},
		{name: "zero 24h low", rec: ticker(func(r *market.Ticker) { r.Low24h = ndec("0") }), reason: NonPositivePrice, field: "low_24h"},
		{name: "valid but never-set price", rec: ticker(func(r *market.Ticker) { r.Last = decimal.NullDecimal{Valid: true} }), reason: NonPositivePrice, field: "last"},
		{name: "negative bid size", rec: ticker(func(r *market.Ticker) { r.BidSize = ndec("-1") }), reason: NegativeSize, field: "bid_size"},
		{name: "negative ask size", rec: ticker(func(r *market.Ticker) { r.AskSize = ndec("-0.5") }), reason: NegativeSize, field: "ask_size"},
		{name: "negative volume", rec: ticker(func(r *market.Ticker) { r.Volume24h = ndec("-5") }), reason: NegativeVolume, field: "volume_24h"},
		{name: "negative quote volume", rec: ticker(func(r *market.Ticker) { r.QuoteVolume24h = ndec("-5") }), reason: NegativeVolume, field: "quote_volume_24h"},
		{name: "bid above ask", rec: ticker(func(r *market.Ticker) { r.Bid = ndec("42220.01") }), reason: CrossedBook, field: "bid"},
		{name: "24h high below 24h low", rec: ticker(func(r *market.Ticker) { r.High24h = ndec("40899.99") }), reason: HighBelowLow, field: "high_24h"},
	})
}

func TestBookRules(t *testing.T) {
	book := func(f func(*market.BookSnapshot)) func() market.Record {
		return func() market.Record { b := goodBook(); f(b); return b }
	}
	runRules(t, []ruleCase{
		{name: "good book", rec: book(func(*market.BookSnapshot) {})},
		{name: "no asks", rec: book(func(b *market.BookSnapshot) { b.Asks = nil })},
		{name: "no bids", rec: book(func(b *market.BookSnapshot) { b.Bids = nil })},
		{name: "one level each side", rec: book(func(b *market.BookSnapshot) { b.Bids, b.Asks = b.Bids[:1], b.Asks[:1] })},

		{name: "zero bid price", rec: book(func(b *market.BookSnapshot) { b.Bids[2].Price = dec("0") }), reason: NonPositivePrice, field: "bids.price"},
		{name: "negative ask price", rec: book(func(b *market.BookSnapshot) { b.Asks[0].Price = dec("-42220") }), reason: NonPositivePrice, field: "asks.price"},
		{name: "zero bid size", rec: book(func(b *market.BookSnapshot) { b.Bids[0].Size = dec("0") }), reason: NonPositiveSize, field: "bids.size"},
		{name: "zero ask size", rec: book(func(b *market.BookSnapshot) { b.Asks[1].Size = dec("0") }), reason: NonPositiveSize, field: "asks.size"},
		{name: "absent ask size", rec: book(func(b *market.BookSnapshot) { b.Asks[2].Size = decimal.Decimal{} }), reason: NonPositiveSize, field: "asks.size"},
		{name: "bids ascending", rec: book(func(b *market.BookSnapshot) { b.Bids[1].Price = dec("42219.85") }), reason: UnsortedBook, field: "bids.price"},
		{name: "bids repeating a price", rec: book(func(b *market.BookSnapshot) { b.Bids[1].Price = dec("42219.80") }), reason: DuplicateLevel, field: "bids.price"},
		{name: "asks descending", rec: book(func(b *market.BookSnapshot) { b.Asks[2].Price = dec("42220.05") }), reason: UnsortedBook, field: "asks.price"},
		{name: "asks repeating a price", rec: book(func(b *market.BookSnapshot) { b.Asks[1].Price = dec("42220.00") }), reason: DuplicateLevel, field: "asks.price"},
		{name: "best bid above best ask", rec: book(func(b *market.BookSnapshot) { b.Bids[0].Price = dec("42220.5") }), reason: CrossedBook, field: "bids.price"},
		{name: "best bid equal to best ask", rec: book(func(b *market.BookSnapshot) { b.Bids[0].Price = dec("42220.000") }), reason: LockedBook, field: "bids.price"},
	})
}

func TestBookUpdateRules(t *testing.T) {
	update := func(f func(*market.BookUpdate)) func() market.Record {
		return func() market.Record {
			u := &market.BookUpdate{Meta: meta("BTC-USDT"), Sequence: 9,
				BookChange: market.BookChange{Side: market.Bid, Price: dec("42219.8"), Size: dec("1.5")}}
			f(u)
			return u
		}
	}
	runRules(t, []ruleCase{
		{name: "good update", rec: update(func(*market.BookUpdate) {})},
		{name: "size 0 removes a level", rec: update(func(u *market.BookUpdate) { u.Size = dec("0") })},
		{name: "ask side", rec: update(func(u *market.BookUpdate) { u.Side = market.Ask })},

		{name: "trade side", rec: update(func(u *market.BookUpdate) { u.Side = "buy" }), reason: BadSide, field: "side"},
		{name: "no side", rec: update(func(u *market.BookUpdate) { u.Side = "" }), reason: BadSide, field: "side"},
		{name: "zero price", rec: update(func(u *market.BookUpdate) { u.Price = dec("0") }), reason: NonPositivePrice, field: "price"},
		{name: "negative size", rec: update(func(u *market.BookUpdate) { u.Size = dec("-0.1") }), reason: NegativeSize, field: "size"},
	})
}

func TestBalanceRules(t *testing.T) {
	balance := func(f func(*market.Balance)) func() market.Record {
		return func() market.Record { b := goodBalance(); f(b); return b }
	}
	runRules(t, []ruleCase{
		{name: "good balance", rec: balance(func(*market.Balance) {})},
		{name: "all zero (never set) amounts", rec: balance(func(b *market.Balance) { b.Free, b.Locked = decimal.Decimal{}, decimal.Decimal{} })},
		{name: "empty account", rec: balance(func(b *market.Balance) { b.Account = "" }), reason: EmptyAccount, field: "account"},
		{name: "negative free", rec: balance(func(b *market.Balance) { b.Free = dec("-0.00000001") }), reason: NegativeSize, field: "free"},
		{name: "negative locked", rec: balance(func(b *market.Balance) { b.Locked = dec("-1") }), reason: NegativeSize, field: "locked"},
	})
}

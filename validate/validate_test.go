package validate

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

var now = time.Date(2026, 11, 24, 10, 0, 30, 0, time.UTC)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func nd(s string) decimal.NullDecimal { return decimal.NullDecimal{Decimal: d(s), Valid: true} }

func meta(sym string) market.Meta {
	return market.Meta{Exchange: market.OKX, Symbol: market.Symbol(sym), Time: now.Add(-time.Second), Received: now}
}

func goodTrade() *market.Trade {
	return &market.Trade{Meta: meta("BTC-USDT"), TradeID: "1", Price: d("42219.9"), Size: d("0.12060306"), Side: market.Buy}
}

func goodCandle() *market.Candle {
	m := meta("BTC-USDT")
	m.Time = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	return &market.Candle{Meta: m, Timeframe: market.TF1m, Open: d("10"), High: d("12"), Low: d("9"), Close: d("11"), Volume: d("3"), Trades: -1}
}

func goodTicker() *market.Ticker {
	return &market.Ticker{Meta: meta("BTC-USDT"), Last: nd("10"), Bid: nd("9.9"), Ask: nd("10.1"), BidSize: nd("1"), AskSize: nd("2"), Volume24h: nd("100")}
}

func goodBook() *market.BookSnapshot {
	return &market.BookSnapshot{Meta: meta("BTC-USDT"),
		Bids: []market.Level{{Price: d("10"), Size: d("1")}, {Price: d("9"), Size: d("1")}},
		Asks: []market.Level{{Price: d("11"), Size: d("1")}, {Price: d("12"), Size: d("1")}}}
}

func goodBalance() *market.Balance {
	m := meta("BTC")
	return &market.Balance{Meta: m, Account: "spot", Free: d("1"), Locked: d("0")}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		rec    func() market.Record
		reason Reason // "" means accepted
		field  string
	}{
		{name: "good trade", rec: func() market.Record { return goodTrade() }},
		{name: "good candle", rec: func() market.Record { return goodCandle() }},
		{name: "good forming candle at now", rec: func() market.Record {
			c := goodCandle()
			c.Time = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
			return c
		}},
		{name: "good ticker", rec: func() market.Record { return goodTicker() }},
		{name: "ticker with only bid and ask", rec: func() market.Record {
			return &market.Ticker{Meta: meta("BTC-USDT"), Bid: nd("1"), Ask: nd("1")}
		}},
		{name: "good book", rec: func() market.Record { return goodBook() }},
		{name: "good balance", rec: func() market.Record { return goodBalance() }},
		{name: "timestamp within the skew allowance", rec: func() market.Record { r := goodTrade(); r.Time = now.Add(4 * time.Second); return r }},

		// any record
		{name: "unknown exchange", rec: func() market.Record { r := goodTrade(); r.Exchange = "kraken"; return r }, reason: UnknownExchange, field: "exchange"},
		{name: "malformed symbol", rec: func() market.Record { r := goodTrade(); r.Symbol = "BTCUSDT"; return r }, reason: BadSymbol, field: "symbol"},
		{name: "lower-case symbol", rec: func() market.Record { r := goodTrade(); r.Symbol = "btc-usdt"; return r }, reason: BadSymbol, field: "symbol"},
		{name: "balance asset must be an asset code", rec: func() market.Record { r := goodBalance(); r.Symbol = "BTC-USDT"; return r }, reason: BadSymbol, field: "symbol"},
		{name: "missing exchange time", rec: func() market.Record { r := goodTrade(); r.Time = time.Time{}; return r }, reason: MissingTime, field: "ts"},
		{name: "missing receipt time", rec: func() market.Record { r := goodTrade(); r.Received = time.Time{}; return r }, reason: MissingTime, field: "received_at"},
		{name: "timestamp before 2009", rec: func() market.Record {
			r := goodTrade()
			r.Time = time.Date(2008, 12, 31, 0, 0, 0, 0, time.UTC)
			return r
		}, reason: TimestampTooOld, field: "ts"},
		{name: "timestamp beyond the skew allowance", rec: func() market.Record { r := goodTrade(); r.Time = now.Add(6 * time.Second); return r }, reason: TimestampInFuture, field: "ts"},
		{name: "candle in the future", rec: func() market.Record {
			c := goodCandle()
			c.Time = time.Date(2026, 11, 24, 10, 5, 0, 0, time.UTC)
			return c
		}, reason: TimestampInFuture, field: "ts"},

		// trades
		{name: "trade zero price", rec: func() market.Record { r := goodTrade(); r.Price = d("0"); return r }, reason: NonPositivePrice, field: "price"},
		{name: "trade negative price", rec: func() market.Record { r := goodTrade(); r.Price = d("-1"); return r }, reason: NonPositivePrice, field: "price"},
		{name: "trade absent (zero-value) price", rec: func() market.Record { r := goodTrade(); r.Price = decimal.Decimal{}; return r }, reason: NonPositivePrice, field: "price"},
		{name: "trade zero size", rec: func() market.Record { r := goodTrade(); r.Size = d("0"); return r }, reason: NonPositiveSize, field: "size"},
		{name: "trade bad side", rec: func() market.Record { r := goodTrade(); r.Side = "bid"; return r }, reason: BadSide, field: "side"},
		{name: "trade empty id", rec: func() market.Record { r := goodTrade(); r.TradeID = ""; return r }, reason: EmptyTradeID, field: "trade_id"},

		// candles
		{name: "candle unknown timeframe", rec: func() market.Record { c := goodCandle(); c.Timeframe = "7m"; return c }, reason: UnknownTimeframe, field: "timeframe"},
		{name: "candle misaligned", rec: func() market.Record { c := goodCandle(); c.Time = c.Time.Add(time.Second); return c }, reason: MisalignedTimestamp, field: "ts"},
		{name: "candle 1h misaligned on a minute", rec: func() market.Record {
			c := goodCandle()
			c.Timeframe = market.TF1h
			c.Time = c.Time.Add(-time.Minute)
			return c
		}, reason: MisalignedTimestamp, field: "ts"},
		{name: "candle zero open", rec: func() market.Record { c := goodCandle(); c.Open = d("0"); return c }, reason: NonPositivePrice, field: "open"},
		{name: "candle absent close", rec: func() market.Record { c := goodCandle(); c.Close = decimal.Decimal{}; return c }, reason: NonPositivePrice, field: "close"},
		{name: "candle negative low", rec: func() market.Record { c := goodCandle(); c.Low = d("-9"); return c }, reason: NonPositivePrice, field: "low"},
		{name: "candle zero high", rec: func() market.Record { c := goodCandle(); c.High = d("0"); return c }, reason: NonPositivePrice, field: "high"},
		{name: "candle negative volume", rec: func() market.Record { c := goodCandle(); c.Volume = d("-1"); return c }, reason: NegativeVolume, field: "volume"},
		{name: "candle zero volume accepted", rec: func() market.Record { c := goodCandle(); c.Volume = d("0"); return c }},
		{name: "candle negative quote volume", rec: func() market.Record { c := goodCandle(); c.QuoteVolume = nd("-1"); return c }, reason: NegativeVolume, field: "quote_volume"},
		{name: "candle high below low", rec: func() market.Record {
			c := goodCandle()
			c.High, c.Low, c.Open, c.Close = d("8"), d("9"), d("8"), d("8")
			return c
		}, reason: HighBelowLow, field: "high"},
		{name: "candle high below close", rec: func() market.Record { c := goodCandle(); c.Close = d("13"); return c }, reason: HighBelowOpenClose, field: "high"},
		{name: "candle high below open", rec: func() market.Record { c := goodCandle(); c.Open = d("12.5"); return c }, reason: HighBelowOpenClose, field: "high"},
		{name: "candle low above open", rec: func() market.Record { c := goodCandle(); c.Open = d("8.5"); return c }, reason: LowAboveOpenClose, field: "low"},
		{name: "candle low above close", rec: func() market.Record { c := goodCandle(); c.Close = d("8"); return c }, reason: LowAboveOpenClose, field: "low"},

		// tickers
		{name: "ticker zero last", rec: func() market.Record { r := goodTicker(); r.Last = nd("0"); return r }, reason: NonPositivePrice, field: "last"},
		{name: "ticker negative bid", rec: func() market.Record { r := goodTicker(); r.Bid = nd("-1"); return r }, reason: NonPositivePrice, field: "bid"},
		{name: "ticker negative ask size", rec: func() market.Record { r := goodTicker(); r.AskSize = nd("-1"); return r }, reason: NegativeSize, field: "ask_size"},
		{name: "ticker negative volume", rec: func() market.Record { r := goodTicker(); r.Volume24h = nd("-5"); return r }, reason: NegativeVolume, field: "volume_24h"},
		{name: "ticker bid above ask", rec: func() market.Record { r := goodTicker(); r.Bid = nd("10.2"); return r }, reason: CrossedBook, field: "bid"},

		// books
		{name: "book zero size level", rec: func() market.Record { b := goodBook(); b.Asks[1].Size = d("0"); return b }, reason: NonPositiveSize, field: "asks"},
		{name: "book bids ascending", rec: func() market.Record { b := goodBook(); b.Bids[1].Price = d("10.5"); return b }, reason: UnsortedBook, field: "bids"},
		{name: "book asks descending", rec: func() market.Record { b := goodBook(); b.Asks[1].Price = d("10.9"); return b }, reason: UnsortedBook, field: "asks"},
		{name: "book crossed", rec: func() market.Record { b := goodBook(); b.Bids[0].Price = d("11"); return b }, reason: CrossedBook, field: "bids"},
		{name: "book negative price", rec: func() market.Record { b := goodBook(); b.Bids[1].Price = d("-1"); return b }, reason: NonPositivePrice, field: "bids"},

		// balances
		{name: "balance empty account", rec: func() market.Record { b := goodBalance(); b.Account = ""; return b }, reason: EmptyAccount, field: "account"},
		{name: "balance negative free", rec: func() market.Record { b := goodBalance(); b.Free = d("-1"); return b }, reason: NegativeSize, field: "free"},
		{name: "balance negative locked", rec: func() market.Record { b := goodBalance(); b.Locked = d("-1"); return b }, reason: NegativeSize, field: "locked"},
	}
	v, err := New(Config{}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := v.Check(tc.rec())
			switch {
			case tc.reason == "" && r != nil:
				t.Fatalf("rejected: %v", r)
			case tc.reason != "" && r == nil:
				t.Fatalf("accepted, want %s", tc.reason)
			case tc.reason != "" && (r.Reason != tc.reason || r.Field != tc.field):
				t.Fatalf("got %s (%s), want %s (%s): %s", r.Reason, r.Field, tc.reason, tc.field, r.Detail)
			}
		})
	}
}

func TestConfiguredExchangesOnly(t *testing.T) {
	v, err := New(Config{Exchanges: []market.Exchange{market.Binance}}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if r := v.Check(goodTrade()); r == nil || r.Reason != UnknownExchange {
		t.Fatalf("okx accepted by a binance-only validator: %v", r)
	}
}

func TestNewRefusesNegativeSkew(t *testing.T) {
	if _, err := New(Config{ClockSkew: -time.Second}, nil); err == nil {
		t.Fatal("negative skew accepted")
	}
}

func TestReasonsAreUnique(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if seen[r] {
			t.Errorf("reason %s listed twice", r)
		}
		seen[r] = true
	}
}

func BenchmarkCheckTrade(b *testing.B) {
	v, _ := New(Config{}, func() time.Time { return now })
	tr := goodTrade()
	b.ReportAllocs()
	for b.Loop() {
		if v.Check(tr) != nil {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkCheckCandle(b *testing.B) {
	v, _ := New(Config{}, func() time.Time { return now })
	c := goodCandle()
	b.ReportAllocs()
	for b.Loop() {
		if v.Check(c) != nil {
			b.Fatal("rejected")
		}
	}
}

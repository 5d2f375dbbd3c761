package validate

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// now is the local clock of every test validator.
var now = time.Date(2026, 11, 24, 10, 0, 30, 0, time.UTC)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ndec(s string) decimal.NullDecimal { return decimal.NullDecimal{Decimal: dec(s), Valid: true} }

func meta(sym market.Symbol) market.Meta {
	return market.Meta{Exchange: market.OKX, Symbol: sym, Time: now.Add(-time.Second), Received: now}
}

// The good records below are accepted; each case of the rule tables
// breaks one rule of one of them. Their numbers mix scales ("42219.9"
// against "42230") as exchanges send them.

func goodTrade() *market.Trade {
	return &market.Trade{Meta: meta("BTC-USDT"), TradeID: "130639474", Price: dec("42219.9"), Size: dec("0.12060306"), Side: market.Buy}
}

func goodCandle() *market.Candle {
	m := meta("BTC-USDT")
	m.Time = time.Date(2026, 11, 24, 9, 59, 0, 0, time.UTC)
	return &market.Candle{
		Meta: m, Timeframe: market.TF1m,
		Open: dec("42219.9"), High: dec("42230"), Low: dec("42200.55"), Close: dec("42225.1"),
		Volume: dec("12.3456"), QuoteVolume: ndec("521234.5678"), Trades: 321, Closed: true,
	}
}

func goodTicker() *market.Ticker {
	return &market.Ticker{
		Meta: meta("BTC-USDT"),
		Last: ndec("42219.9"), Bid: ndec("42219.8"), Ask: ndec("42220"), BidSize: ndec("1.5"), AskSize: ndec("0.25"),
		Open24h: ndec("41000"), High24h: ndec("42500.5"), Low24h: ndec("40900"),
		Volume24h: ndec("12345.678"), QuoteVolume24h: ndec("512345678.9"),
	}
}

func goodBook() *market.BookSnapshot {
	return &market.BookSnapshot{
		Meta: meta("BTC-USDT"),
		Bids: []market.Level{{Price: dec("42219.8"), Size: dec("1")}, {Price: dec("42219"), Size: dec("0.5")}, {Price: dec("42218.55"), Size: dec("2")}},
		Asks: []market.Level{{Price: dec("42220"), Size: dec("0.3")}, {Price: dec("42220.1"), Size: dec("4")}, {Price: dec("42221"), Size: dec("1")}},
	}
}

func goodBalance() *market.Balance {
	return &market.Balance{Meta: meta("BTC"), Account: "spot", Free: dec("1.25"), Locked: dec("0")}
}

// ruleCase breaks (or, with no reason, deliberately keeps) one rule.
type ruleCase struct {
	name   string
	rec    func() market.Record
	reason Reason // empty: the record must be accepted
	field  string
}

// runRules checks each case against a validator with the default
// configuration whose clock reads now.
func runRules(t *testing.T, cases []ruleCase) {
	t.Helper()
	v, err := New(Config{}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := v.Check(tc.rec())
			switch {
			case tc.reason == "" && r != nil:
				t.Fatalf("rejected: %s", r)
			case tc.reason != "" && r == nil:
				t.Fatalf("accepted, want %s (%s)", tc.reason, tc.field)
			case tc.reason != "" && (r.Reason != tc.reason || r.Field != tc.field):
				t.Fatalf("got %s, want %s (%s)", r, tc.reason, tc.field)
			case r != nil && r.Detail == "":
				t.Fatalf("%s without a detail", r.Reason)
			}
		})
	}
}

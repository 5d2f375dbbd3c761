package spool

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ndec(s string) decimal.NullDecimal {
	return decimal.NullDecimal{Decimal: dec(s), Valid: true}
}

func meta(sym string) market.Meta {
	return market.Meta{
		Exchange: market.Exchange("okx"), Symbol: market.Symbol(sym),
		Time:     time.Date(2026, 11, 24, 9, 0, 0, 123000000, time.UTC),
		Received: time.Date(2026, 11, 24, 9, 0, 0, 131472905, time.UTC),
	}
}

// sampleRecords covers every field of every record type, with decimals
// whose scale matters, huge coefficients, negatives and absent values.
func sampleRecords() map[string]market.Record {
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890123456789", 10)
	return map[string]market.Record{
		"trade": &market.Trade{Meta: meta("BTC-USDT"), TradeID: "563524823", Price: dec("42219.90"), Size: dec("0.00012000"), Side: market.Buy},
		"trade text id, huge price": &market.Trade{Meta: meta("BTC-USD"), TradeID: "a-b\x00\xff",
			Price: decimal.NewFromBigInt(huge, -20), Size: decimal.New(5, 3), Side: market.Sell},
		"trade zero values": &market.Trade{},
		"ticker all": &market.Ticker{Meta: meta("ETH-USDT"), Last: ndec("2250.10"), Bid: ndec("2250.00"), Ask: ndec("2250.2"),
			BidSize: ndec("1.000"), AskSize: ndec("0"), Open24h: ndec("2000"), High24h: ndec("2300.5"), Low24h: ndec("1999.99"),
			Volume24h: ndec("12345.678"), QuoteVolume24h: ndec("27777777.7777")},
		"ticker sparse": &market.Ticker{Meta: meta("ETH-USDT"), Last: ndec("1.10")},
		"candle closed": &market.Candle{Meta: meta("BTC-USDT"), Timeframe: market.Timeframe("1m"), Open: dec("1.10"), High: dec("2.200"),
			Low: dec("1.0"), Close: dec("2"), Volume: dec("100.5000"), QuoteVolume: ndec("150.75"), Trades: 42, Closed: true},
		"candle provisional": &market.Candle{Meta: meta("BTC-USDT"), Timeframe: market.Timeframe("1m"), Open: dec("1"), High: dec("1"),
			Low: dec("1"), Close: dec("1"), Volume: dec("0.5"), Trades: 3, Provisional: true},
		"candle forming": &market.Candle{Meta: meta("BTC-USDT"), Timeframe: market.Timeframe("1h"), Open: dec("1"), High: dec("1"),
			Low: dec("1"), Close: dec("1"), Volume: dec("0"), Trades: -1},
		"book": &market.BookSnapshot{Meta: meta("BTC-USDT"),
			Bids: []market.Level{{Price: dec("100.10"), Size: dec("1")}, {Price: dec("100.00"), Size: dec("2.50")}},
			Asks: []market.Level{}, Sequence: 1 << 40, Checksum: -12345},
		"book nil sides": &market.BookSnapshot{Meta: meta("BTC-USDT")},
		"book update": &market.BookUpdate{Meta: meta("BTC-USDT"), Sequence: 1<<40 + 3,
			BookChange: market.BookChange{Side: market.Ask, Price: dec("100.10"), Size: dec("0.000")}},
		"balance": &market.Balance{Meta: meta("BTC"), Account: "spot", Free: dec("0.50000000"), Locked: dec("-0")},
	}
}

// describe renders every field of v, decimals with coefficient and
// exponent, times as instant and zone, slices with nil told from empty: two
// records describe alike only if they are equal field for field.
func describe(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case decimal.Decimal:
		return fmt.Sprintf("%se%d", x.Coefficient(), x.Exponent())
	case time.Time:
		return fmt.Sprintf("%d.%09d@%s", x.Unix(), x.Nanosecond(), x.Location())
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "nil"
		}
		return "&" + describe(v.Elem())
	case reflect.Struct:
		var b strings.Builder
		b.WriteString(v.Type().Name() + "{")
		for i := range v.NumField() {
			fmt.Fprintf(&b, "%s:%s ", v.Type().Field(i).Name, describe(v.Field(i)))
		}
		return b.String() + "}"
	case reflect.Slice:
		if v.IsNil() {
			return "nil"
		}
		var b strings.Builder
		b.WriteString("[")
		for i := range v.Len() {
			b.WriteString(describe(v.Index(i)) + ",")
		}
		return b.String() + "]"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v.Interface()))
}

func TestCodecRoundTrip(t *testing.T) {
	for name, rec := range sampleRecords() {
		t.Run(name, func(t *testing.T) {
			p, err := encode(nil, rec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(p)
			if err != nil {
				t.Fatal(err)
			}
			want := describe(reflect.ValueOf(rec))
			if d := describe(reflect.ValueOf(got)); d != want {
				t.Errorf("round trip:\n got %s\nwant %s", d, want)
			}
		})
	}
}

func TestCodecKeepsScale(t *testing.T) {
	p, err := encode(nil, &market.Trade{Price: dec("2250.10"), Size: dec("0.00012000")})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decode(p)
	if err != nil {
		t.Fatal(err)
	}
	tr := rec.(*market.Trade)
	if got := tr.Price.StringFixed(-tr.Price.Exponent()); got != "2250.10" {
		t.Errorf("price %s, want 2250.10", got)
	}
	if got := tr.Size.StringFixed(-tr.Size.Exponent()); got != "0.00012000" {
		t.Errorf("size %s, want 0.00012000", got)
	}
}

func TestCodecRefuses(t *testing.T) {
	p, err := encode(nil, sampleRecords()["trade"])
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":          nil,
		"other version":  append([]byte{2}, p[1:]...),
		"unknown kind":   append([]byte{codecVersion, 99}, p[2:]...),
		"truncated":      p[:len(p)-1],
		"trailing bytes": append(append([]byte{}, p...), 0),
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			if rec, err := decode(payload); err == nil {
				t.Errorf("decoded %#v, want an error", rec)
			}
		})
	}
	if _, err := encode(nil, &unknownRecord{}); err == nil {
		t.Error("encoded an unknown record type")
	}
}

type unknownRecord struct{ market.Meta }

func (*unknownRecord) DataType() market.DataType { return "unknown" }
func (*unknownRecord) Stream() market.Stream     { return market.Stream{} }

func FuzzDecode(f *testing.F) {
	for _, rec := range sampleRecords() {
		p, err := encode(nil, rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		rec, err := decode(p)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		q, err := encode(nil, rec)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if again, err := decode(q); err != nil || describe(reflect.ValueOf(again)) != describe(reflect.ValueOf(rec)) {
			t.Fatalf("re-encoded record differs: %v", err)
		}
	})
}

package pubsub

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// The documented examples: each parses into the published shape, and
// encoding the record gives the example back.
func TestExamplesRoundTrip(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want market.Record
	}{
		{"trade.json", &market.Trade{}},
		{"ticker.json", &market.Ticker{}},
		{"candle.json", &market.Candle{}},
		{"book.json", &market.BookSnapshot{}},
		{"balance.json", &market.Balance{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			example, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(readme, bytes.TrimSpace(example)) {
				t.Errorf("README.md does not quote testdata/%s", tt.file)
			}
			rec, err := Decode(example)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got, want := rec.DataType(), tt.want.DataType(); got != want {
				t.Fatalf("decoded a %s, want a %s", got, want)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, example); err != nil {
				t.Fatal(err)
			}
			if got := Encode(nil, rec); !bytes.Equal(got, compact.Bytes()) {
				t.Errorf("round trip:\n got %s\nwant %s", got, compact.Bytes())
			}
		})
	}
}

// TestEncodeDecodeRoundTrip checks that every record survives Encode and
// Decode: encoding the decoded record gives the same bytes, so every field,
// every decimal digit and every nanosecond came back.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 0, 0, 1, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		rec  market.Record
		// contains are fragments the payload must hold.
		contains []string
		// absent are keys the payload must not hold.
		absent []string
	}{
		{
			name:     "trade, times in UTC with nanoseconds",
			rec:      &market.Trade{Meta: market.Meta{Exchange: "okx", Symbol: "BTC-USDT", Time: at, Received: at}, TradeID: "1", Price: dec(t, "0.00000001"), Size: dec(t, "-12.5"), Side: market.Sell},
			contains: []string{`"ts":"2026-11-24T08:00:00.000000001Z"`, `"price":"0.00000001"`, `"size":"-12.5"`, `"side":"sell"`},
		},
		{
			name:     "ticker with every value absent",
			rec:      &market.Ticker{Meta: meta("binance", "BTC-USDT", 1)},
			contains: []string{`"received_at":"2026-11-24T09:00:00.131000001Z"}`},
			absent:   []string{`"last"`, `"bid"`, `"ask"`, `"volume_24h"`, `"quote_volume_24h"`},
		},
		{
			name:     "candle without trade count or quote volume",
			rec:      &market.Candle{Meta: meta("okx", "BTC-USDT", 0), Timeframe: market.TF1w, Open: dec(t, "1"), High: dec(t, "2"), Low: dec(t, "0.5"), Close: dec(t, "1.5"), Volume: dec(t, "0"), Trades: -1, Closed: true},
			contains: []string{`"timeframe":"1w"`, `"volume":"0","closed":true}`},
			absent:   []string{`"trades"`, `"quote_volume"`},
		},
		{
			name:     "provisional candle",
			rec:      &market.Candle{Meta: meta("coinbase", "BTC-USD", 0), Timeframe: market.TF1m, Open: dec(t, "1"), High: dec(t, "1"), Low: dec(t, "1"), Close: dec(t, "1"), Volume: dec(t, "2"), Trades: -1, Provisional: true},
			contains: []string{`"volume":"2","closed":false,"provisional":true}`},
		},
		{
			name:     "candle with zero trades",
			rec:      &market.Candle{Meta: meta("okx", "BTC-USDT", 0), Timeframe: market.TF1m, Open: dec(t, "1"), High: dec(t, "1"), Low: dec(t, "1"), Close: dec(t, "1"), Volume: dec(t, "0"), QuoteVolume: nullDec(t, "0")},
			contains: []string{`"quote_volume":"0","trades":0,"closed":false}`},
		},
		{
			name:     "empty book with a negative checksum",
			rec:      &market.BookSnapshot{Meta: meta("okx", "BTC-USDT", 0), Checksum: -1200119424},
			contains: []string{`"bids":[],"asks":[],"checksum":-1200119424}`},
			absent:   []string{`"sequence"`},
		},
		{
			name:     "strings that need escaping",
			rec:      &market.Balance{Meta: meta("ok\"x", "B\\T\nC", 0), Account: "sub\u2028acct\x01", Free: dec(t, "1"), Locked: decimal.Decimal{}},
			contains: []string{`"exchange":"ok\"x"`, `"symbol":"B\\T\nC"`, `"account":"sub\u2028acct\u0001"`, `"locked":"0"`},
		},
		{
			name:     "a coefficient too long for int64",
			rec:      &market.Trade{Meta: meta("okx", "BTC-USDT", 0), TradeID: "9", Price: dec(t, "123456789012345678901234567890.123456789"), Size: dec(t, "1e3"), Side: market.Buy},
			contains: []string{`"price":"123456789012345678901234567890.123456789"`, `"size":"1000"`},
		},
	}
	for _, r := range everyType(t, 3) {
		tests = append(tests, struct {
			name     string
			rec      market.Record
			contains []string
			absent   []string
		}{name: "sample " + r.Stream().String(), rec: r})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := Encode(nil, tt.rec)
			if !json.Valid(payload) {
				t.Fatalf("not valid JSON: %s", payload)
			}
			for _, c := range append([]string{`{"v":1,"type":"`}, tt.contains...) {
				if !bytes.Contains(payload, []byte(c)) {
					t.Errorf("payload %s does not contain %s", payload, c)
				}
			}
			for _, a := range tt.absent {
				if bytes.Contains(payload, []byte(a)) {
					t.Errorf("payload %s contains %s", payload, a)
				}
			}
			back, err := Decode(payload)
			if err != nil {
				t.Fatalf("decode %s: %v", payload, err)
			}
			if again := Encode(nil, back); !bytes.Equal(again, payload) {
				t.Errorf("round trip:\n got %s\nwant %s", again, payload)
			}
			if back.Stream() != tt.rec.Stream() || !back.Header().Time.Equal(tt.rec.Header().Time) {
				t.Errorf("decoded stream %v at %v, want %v at %v", back.Stream(), back.Header().Time, tt.rec.Stream(), tt.rec.Header().Time)
			}
		})
	}
}

// Encode appends to what dst holds.
func TestEncodeAppends(t *testing.T) {
	rec := seqTrade(1)
	got := Encode([]byte("x"), rec)
	if want := "x" + string(Encode(nil, rec)); string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"plain", "BTC-USDT"},
		{"quote and backslash", `a"b\c`},
		{"named control characters", "\b\f\n\r\t"},
		{"other control characters", "\x00\x01\x1f\x7f"},
		{"html is not escaped", "<a href='x'>&</a>"},
		{"multibyte", "é€😀"},
		{"line and paragraph separators", "a\u2028b\u2029c"},
		{"invalid UTF-8", "a\xffb\xc3"},
		{"a surrogate half encoded", "\xed\xa0\x80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkAppendString(t, tt.in) })
	}
}

// TestAppendStringEveryByte: each byte alone, and between plain text,
// is written as encoding/json writes it (the table of plain bytes is
// right for all 256).
func TestAppendStringEveryByte(t *testing.T) {
	for c := range 256 {
		checkAppendString(t, string([]byte{byte(c)}))
		checkAppendString(t, "ab"+string([]byte{byte(c)})+"cd")
		// At each place of the words read eight bytes at a time.
		for at := range 17 {
			b := []byte("BTC-USDT.ETH-USDT")
			b[at] = byte(c)
			checkAppendString(t, string(b))
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "BTC-USDT", "\"\\\x00\n", "é\u2028\xff"} {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}

// checkAppendString compares appendString with encoding/json without HTML
// escaping.
func checkAppendString(t *testing.T, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSuffix(buf.String(), "\n")
	if got := string(appendString(nil, s)); got != want {
		t.Errorf("appendString(%q) = %s, want %s", s, got, want)
	}
}

func TestAppendDecimalKeepsScale(t *testing.T) {
	values := []string{
		"0", "0.0", "0.10", "-0.10", "1", "-1", "10", "100.000", "42219.9", "42219.90",
		"0.00000001", "-0.000000010", "123456789012345678", "0.123456789012345678",
		"999999999999999999", "-999999999999999999.5", "1234567890123456789", "1e3", "-2.5e2",
		"1e-70", "12345678901234567890.12345678901234567890",
	}
	for _, v := range values {
		checkAppendDecimal(t, dec(t, v))
	}
	checkAppendDecimal(t, decimal.Decimal{})
	checkAppendDecimal(t, decimal.New(math.MaxInt64, -3))
	checkAppendDecimal(t, decimal.New(math.MinInt64, -3))
	checkAppendDecimal(t, decimal.NewFromBigInt(new(big.Int).Lsh(big.NewInt(1), 100), -20))
	// The wire's digits survive: trailing zeros are part of the value's scale.
	for in, want := range map[string]string{"2250.10": "2250.10", "0.10": "0.10", "-0.000000010": "-0.000000010", "100.000": "100.000", "1e3": "1000", "0.0": "0.0"} {
		if got := string(appendDecimal(nil, dec(t, in))); got != want {
			t.Errorf("appendDecimal(%s) = %s, want %s", in, got, want)
		}
	}
}

func FuzzAppendDecimal(f *testing.F) {
	f.Add(int64(4221990), int32(-2))
	f.Add(int64(-5), int32(-40))
	f.Add(int64(0), int32(3))
	f.Add(int64(math.MaxInt64), int32(-18))
	f.Fuzz(func(t *testing.T, coef int64, exp int32) {
		if exp > 1000 || exp < -1000 {
			t.Skip("an exponent no price has")
		}
		checkAppendDecimal(t, decimal.New(coef, exp))
	})
}

func checkAppendDecimal(t *testing.T, d decimal.Decimal) {
	t.Helper()
	if got, want := string(appendDecimal(nil, d)), exactDecimal(d); got != want {
		t.Errorf("appendDecimal(%s×10^%d) = %s, want %s", d.Coefficient(), d.Exponent(), got, want)
	}
}

func TestAppendTimeMatchesFormat(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
	}{
		{"zero", time.Time{}},
		{"nanoseconds", time.Date(2026, 11, 24, 9, 0, 0, 123456789, time.UTC)},
		{"whole second", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"other zone", time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", -5*3600))},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 1, time.UTC)},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"negative year", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"local with monotonic reading", time.Now()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := string(appendTime(nil, tt.t)), tt.t.UTC().Format(timeLayout); got != want {
				t.Errorf("appendTime = %s, want %s", got, want)
			}
		})
	}
	// Every field's digits: random instants over years 0–9999.
	rng := rand.New(rand.NewPCG(1, 2))
	lo, hi := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	for range 20000 {
		at := time.Unix(lo+rng.Int64N(hi-lo), rng.Int64N(1e9))
		if got, want := string(appendTime(nil, at)), at.UTC().Format(timeLayout); got != want {
			t.Fatalf("appendTime = %s, want %s", got, want)
		}
	}
}

// TestAppendTimesPairs: the received time, written after the event time
// and sharing its date when on the same UTC day, is written as Format
// writes it, for pairs on the same day, across midnight and the edges of
// years 0 and 9999, in any zone.
func TestAppendTimesPairs(t *testing.T) {
	east := time.FixedZone("east", 14*3600)
	var times []time.Time
	for _, at := range []time.Time{
		time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		for _, d := range []time.Duration{-time.Nanosecond, 0, time.Nanosecond, 12 * time.Hour, 24*time.Hour - time.Nanosecond, 24 * time.Hour} {
			times = append(times, at.Add(d), at.Add(d).In(east))
		}
	}
	times = append(times, time.Time{}, time.Now())
	for _, a := range times {
		for _, b := range times {
			h := &market.Meta{Time: a, Received: b}
			want := `,"ts":"` + a.UTC().Format(timeLayout) + `","received_at":"` + b.UTC().Format(timeLayout) + `"`
			if got := string(appendTimes(nil, h)); got != want {
				t.Fatalf("appendTimes(%s, %s) = %s, want %s", a, b, got, want)
			}
		}
	}
}

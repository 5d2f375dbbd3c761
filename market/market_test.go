package market

import (
	"testing"
	"time"
)

func TestParseSymbol(t *testing.T) {
	tests := []struct {
		in   string
		want Symbol
		ok   bool
	}{
		{"BTC-USDT", "BTC-USDT", true},
		{" btc-usd ", "BTC-USD", true},
		{"1INCH-USDT", "1INCH-USDT", true},
		{"BTCUSDT", "", false},
		{"BTC-", "", false},
		{"-USDT", "", false},
		{"BTC-US-DT", "", false},
		{"BTC USDT", "", false},
		{"BTC-U*T", "", false},
		{"ABCDEFGHIJKLMNOPQRSTU-USD", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSymbol(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseSymbol(%q) = %q, %v", tc.in, got, err)
			}
			if tc.ok && (got.Base()+"-"+got.Quote() != string(got)) {
				t.Errorf("base %q quote %q", got.Base(), got.Quote())
			}
		})
	}
}

func TestTimeframeTruncate(t *testing.T) {
	at := time.Date(2026, 11, 26, 13, 47, 31, 500, time.UTC) // a Thursday
	tests := []struct {
		tf   Timeframe
		want time.Time
	}{
		{TF1m, time.Date(2026, 11, 26, 13, 47, 0, 0, time.UTC)},
		{TF15m, time.Date(2026, 11, 26, 13, 45, 0, 0, time.UTC)},
		{TF4h, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)},
		{TF1d, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		{TF1w, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}, // Monday
	}
	for _, tc := range tests {
		t.Run(string(tc.tf), func(t *testing.T) {
			if got := tc.tf.Truncate(at); !got.Equal(tc.want) {
				t.Errorf("Truncate = %s, want %s", got, tc.want)
			}
			if !tc.tf.Aligned(tc.want) || tc.tf.Aligned(at) {
				t.Error("Aligned disagrees with Truncate")
			}
		})
	}
	if got := TF1w.Truncate(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(1969, 12, 29, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("week before the origin: %s", got)
	}
	if _, err := ParseTimeframe("7m"); err == nil {
		t.Error("7m accepted")
	}
}

func TestStreamNames(t *testing.T) {
	tests := []struct {
		s    Stream
		want string
		ok   bool
	}{
		{Stream{Exchange: OKX, Symbol: "BTC-USDT", Type: TypeTrade}, "okx:trade:BTC-USDT", true},
		{Stream{Exchange: Binance, Symbol: "BTC-USDT", Type: TypeCandle, Timeframe: TF1m}, "binance:candle.1m:BTC-USDT", true},
		{Stream{Exchange: Coinbase, Symbol: "BTC-USD", Type: TypeOrderBook}, "coinbase:book:BTC-USD", true},
		{Stream{Exchange: OKX, Symbol: "BTC-USDT", Type: TypeCandle}, "okx:candle.:BTC-USDT", false},
		{Stream{Exchange: OKX, Symbol: "BTC-USDT", Type: TypeTrade, Timeframe: TF1m}, "okx:trade:BTC-USDT", false},
		{Stream{Exchange: "bitstamp", Symbol: "BTC-USDT", Type: TypeTrade}, "bitstamp:trade:BTC-USDT", false},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Errorf("String = %q", got)
			}
			if err := tc.s.Check(); (err == nil) != tc.ok {
				t.Errorf("Check = %v", err)
			}
		})
	}
}

func TestSideOpposite(t *testing.T) {
	if Buy.Opposite() != Sell || Sell.Opposite() != Buy || Side("x").Opposite() != "x" {
		t.Error("Opposite")
	}
}

func TestGapUnion(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	s := Stream{Exchange: Binance, Symbol: "BTC-USDT", Type: TypeTrade}
	a := Gap{Stream: s, From: at, To: at.Add(time.Minute), AfterID: 10, BeforeID: 20, Reason: GapDisconnect, Detected: at.Add(time.Hour)}
	b := Gap{Stream: s, From: at.Add(30 * time.Second), To: at.Add(2 * time.Minute), AfterID: 15, BeforeID: 30, Reason: GapRestart, Detected: at.Add(time.Minute)}
	want := Gap{Stream: s, From: at, To: at.Add(2 * time.Minute), AfterID: 10, BeforeID: 30, Reason: GapDisconnect, Detected: at.Add(time.Minute)}
	if got := a.Union(b); got != want {
		t.Errorf("union\n got %v\nwant %v", got, want)
	}
	timeOnly := b
	timeOnly.AfterID, timeOnly.BeforeID, timeOnly.Detected = 0, 0, time.Time{}
	want.AfterID, want.BeforeID, want.Detected = 0, 0, a.Detected
	if got := a.Union(timeOnly); got != want {
		t.Errorf("union with a gap bounded by time only\n got %v\nwant %v", got, want)
	}
}

func TestTradeNumericID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want int64
		ok   bool
	}{
		{"130639474", 130639474, true}, {"1", 1, true}, {"999999999999999999", 999999999999999999, true},
		{"0", 0, false}, {"", 0, false}, {"-5", 0, false}, {"12a", 0, false}, {"1234567890123456789", 0, false},
		{"e6fa2fa0-0e02-4b6f-8d0a-2b5c9e6b1e04", 0, false},
	} {
		got, ok := (&Trade{TradeID: tc.id}).NumericID()
		if got != tc.want || ok != tc.ok {
			t.Errorf("NumericID(%q) = %d, %t; want %d, %t", tc.id, got, ok, tc.want, tc.ok)
		}
	}
}

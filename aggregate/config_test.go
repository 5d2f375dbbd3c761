package aggregate

import (
	"testing"
	"time"

	"marketetl/market"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		exchange market.Exchange
		sym      market.Symbol
		tfs      []market.Timeframe
		cfg      Config
		wantErr  bool
	}{
		{name: "one timeframe", exchange: market.Coinbase, sym: "BTC-USD", tfs: []market.Timeframe{market.TF1m}},
		{name: "every timeframe", exchange: market.OKX, sym: "BTC-USDT", tfs: market.Timeframes()},
		{name: "no timeframe", exchange: market.Coinbase, sym: "BTC-USD", wantErr: true},
		{name: "unknown timeframe", exchange: market.Coinbase, sym: "BTC-USD", tfs: []market.Timeframe{market.TF1m, "7m"}, wantErr: true},
		{name: "unknown exchange", exchange: "bitstamp", sym: "BTC-USD", tfs: []market.Timeframe{market.TF1m}, wantErr: true},
		{name: "malformed symbol", exchange: market.Coinbase, sym: "btc-usd", tfs: []market.Timeframe{market.TF1m}, wantErr: true},
		{name: "negative clock skew", exchange: market.Coinbase, sym: "BTC-USD", tfs: []market.Timeframe{market.TF1m}, cfg: Config{ClockSkew: -time.Second}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.exchange, tc.sym, tc.tfs, tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && b == nil {
				t.Fatal("nil builder without an error")
			}
		})
	}
}

func TestTimeframesShortestFirstAndOnce(t *testing.T) {
	b, err := New(market.Coinbase, "BTC-USD", []market.Timeframe{market.TF1h, market.TF1m, market.TF5m, market.TF1m}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := b.Add(trade(1000, "10", "1"), nil)
	var tfs []market.Timeframe
	for _, c := range got {
		tfs = append(tfs, c.Timeframe)
	}
	if want := []market.Timeframe{market.TF1m, market.TF5m, market.TF1h}; !equalTimeframes(tfs, want) {
		t.Fatalf("emitted %v, want %v", tfs, want)
	}
}

func equalTimeframes(a, b []market.Timeframe) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestClockSkew(t *testing.T) {
	behind := func(d time.Duration) func(market.Exchange) (time.Duration, bool) {
		return func(market.Exchange) (time.Duration, bool) { return -d, true }
	}
	tests := []struct {
		name    string
		skew    time.Duration
		offset  func(market.Exchange) (time.Duration, bool)
		ahead   time.Duration
		skipped uint64
	}{
		{name: "default: exactly 5s ahead is folded", ahead: 5 * time.Second},
		{name: "default: 6s ahead is skipped", ahead: 6 * time.Second, skipped: 1},
		{name: "wider: 30s ahead is folded", skew: 30 * time.Second, ahead: 30 * time.Second},
		{name: "narrower: 2s ahead is skipped", skew: time.Second, ahead: 2 * time.Second, skipped: 1},
		{name: "host 10s behind: 14s ahead is folded", offset: behind(10 * time.Second), ahead: 14 * time.Second},
		{name: "host 10s behind: 16s ahead is skipped", offset: behind(10 * time.Second), ahead: 16 * time.Second, skipped: 1},
		{name: "host ahead: 6s ahead is skipped", offset: behind(-10 * time.Second), ahead: 6 * time.Second, skipped: 1},
		{name: "host far behind: the correction is capped", offset: behind(time.Hour), ahead: 5*time.Second + MaxClockCorrection + time.Second, skipped: 1},
		{name: "offset not measured yet: up to the cap", offset: func(market.Exchange) (time.Duration, bool) { return 0, false }, ahead: 5*time.Second + MaxClockCorrection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(market.Coinbase, "BTC-USD", []market.Timeframe{market.TF1m}, Config{ClockSkew: tc.skew, ClockOffset: tc.offset})
			if err != nil {
				t.Fatal(err)
			}
			tr := trade(1000, "10", "1")
			tr.Received = tr.Time.Add(-tc.ahead)
			b.Add(tr, nil)
			if b.Skipped() != tc.skipped {
				t.Fatalf("skipped %d, want %d", b.Skipped(), tc.skipped)
			}
		})
	}
}

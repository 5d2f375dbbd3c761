package binance

import "testing"

// TestLimitsKeepBinancesDocumentedRates: at most 1024 streams per
// connection and at most 300 connection attempts in any 5 minutes.
func TestLimitsKeepBinancesDocumentedRates(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	l := a.Limits()
	if l.StreamsPerConn <= 0 || l.StreamsPerConn > 1024 {
		t.Errorf("streams per connection %d, Binance allows 1024", l.StreamsPerConn)
	}
	if n := float64(l.Dials.Burst) + l.Dials.PerSecond*300; l.Dials.PerSecond <= 0 || n > 300 {
		t.Errorf("dials: up to %.0f in 5 minutes, Binance allows 300", n)
	}
}

package coinbase

import "testing"

// TestLimitsKeepCoinbasesDocumentedRates: at most 8 connection requests in
// any second (8 per second per IP, bursts of 20), and a finite number of
// streams per connection.
func TestLimitsKeepCoinbasesDocumentedRates(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	l := a.Limits()
	if n := float64(l.Dials.Burst) + l.Dials.PerSecond*1; l.Dials.PerSecond <= 0 || n > 8 {
		t.Errorf("dials: up to %.1f in a second, Coinbase allows 8", n)
	}
	if l.StreamsPerConn <= 0 {
		t.Errorf("streams per connection %d: want a limit", l.StreamsPerConn)
	}
}

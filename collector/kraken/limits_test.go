package kraken

import "testing"

// TestLimitsKeepKrakensConnectionRate: Kraken bans an address for 10
// minutes after about 150 connection attempts in a rolling 10 minutes.
func TestLimitsKeepKrakensConnectionRate(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	l := a.Limits()
	if n := float64(l.Dials.Burst) + l.Dials.PerSecond*600; l.Dials.PerSecond <= 0 || n > 150 {
		t.Errorf("dials: up to %.0f in 10 minutes, Kraken bans beyond about 150", n)
	}
	if l.StreamsPerConn != 0 {
		t.Errorf("streams per connection %d, Kraken documents no limit", l.StreamsPerConn)
	}
}

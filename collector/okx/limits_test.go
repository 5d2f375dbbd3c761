package okx

import "testing"

// TestLimitsKeepOKXsDocumentedRates: at most 3 connection attempts in any
// second (3 per second per IP) and at most 480 requests in any hour on one
// connection, counting a login, with the connection split well below the
// 64 KB of args one request may carry.
func TestLimitsKeepOKXsDocumentedRates(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	l := a.Limits()
	if n := float64(l.Dials.Burst) + l.Dials.PerSecond*1; l.Dials.PerSecond <= 0 || n > 3 {
		t.Errorf("dials: up to %.1f in a second, OKX allows 3", n)
	}
	if n := float64(l.Requests.Burst) + l.Requests.PerSecond*3600; l.Requests.PerSecond <= 0 || n+1 > 480 {
		t.Errorf("requests: up to %.0f in an hour plus a login, OKX allows 480", n)
	}
	if l.StreamsPerConn <= 0 || l.StreamsPerConn*64 > maxFrameBytes*4 {
		t.Errorf("streams per connection %d", l.StreamsPerConn)
	}
}

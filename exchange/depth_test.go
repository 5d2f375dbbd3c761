package exchange

import (
	"net/http/httptest"
	"testing"
)

// TestBinanceDepthWeight: GET /api/v3/depth costs what its limit costs.
func TestBinanceDepthWeight(t *testing.T) {
	for query, want := range map[string]int{
		"": 5, "?limit=5": 5, "?limit=100": 5, "?limit=101": 25, "?limit=500": 25,
		"?limit=501": 50, "?limit=1000": 50, "?limit=1001": 250, "?limit=5000": 250, "?limit=x": 250,
	} {
		r := httptest.NewRequest("GET", "https://api.binance.com/api/v3/depth"+query, nil)
		if got := binanceWeight(r); got != want {
			t.Errorf("depth%s: weight %d, want %d", query, got, want)
		}
	}
}

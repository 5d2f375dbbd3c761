package store

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// A candle check's values are stored exactly, with the scale they carry
// (they are passed as numerics, not through text).
func TestCandleCheckValuesAreExact(t *testing.T) {
	_, pool := migratedDB(t)
	checks := NewCandleChecks(pool)
	d := decimal.RequireFromString
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	c := market.CandleCheck{
		Stream: market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1m},
		Time:   at, Due: at.Add(time.Minute), Reason: "closed",
		Open: d("42219.90"), High: d("0.000000000000000001"), Low: d("-0"), Close: d("123456789012345678901234.5"), Volume: d("100"),
	}
	if err := checks.Add(t.Context(), []market.CandleCheck{c}); err != nil {
		t.Fatal(err)
	}
	var open, high, low, closeV, volume string
	if err := pool.QueryRow(t.Context(), `SELECT open::text, high::text, low::text, close::text, volume::text FROM candle_checks`).
		Scan(&open, &high, &low, &closeV, &volume); err != nil {
		t.Fatal(err)
	}
	got := []string{open, high, low, closeV, volume}
	want := []string{"42219.90", "0.000000000000000001", "0", "123456789012345678901234.5", "100"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stored %v, want %v", got, want)
			break
		}
	}
}

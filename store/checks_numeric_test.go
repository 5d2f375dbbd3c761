package store

import (
	"fmt"
	"strings"
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

// appendDecimalText writes every decimal as its exact text with its
// scale: compared with the library's own fixed-point text.
func TestAppendDecimalText(t *testing.T) {
	for _, s := range []string{"0", "-0", "0.00", "1", "-1", "42219.90", "0.000000000000000001", "-0.5", "100", "1e3", "-2.5e2",
		"123456789012345678", "1234567890123456789", "-1.234567890123456789", "9999999999999999999", "-9223372036854775808", "-9223372036854775809", "-123456789012345678901234.5", "0.1234567890123456789012", "9.999e-30", "7e20"} {
		d := decimal.RequireFromString(s)
		want := d.String()
		if d.Exponent() < 0 {
			want = d.StringFixed(-d.Exponent())
		}
		if got := string(appendDecimalText(nil, d)); got != want {
			t.Errorf("%s: got %s, want %s", s, got, want)
		}
	}
}

// One Add naming a candle several times applies its checks in order, as
// separate Adds would: a provisional check after a closed one takes over
// its values and the earlier due time; a closed one after it changes
// nothing.
func TestCandleChecksAddRepeatsInOrder(t *testing.T) {
	_, pool := migratedDB(t)
	checks := NewCandleChecks(pool)
	d := decimal.RequireFromString
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	st := market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1m}
	chk := func(minute int, r market.CheckReason, due int, closeV string) market.CandleCheck {
		return market.CandleCheck{Stream: st, Time: at.Add(time.Duration(minute) * time.Minute), Reason: r,
			Due: at.Add(time.Duration(due) * time.Second), Open: d("1"), High: d("2"), Low: d("0.5"), Close: d(closeV), Volume: d("10")}
	}
	if err := checks.Add(t.Context(), []market.CandleCheck{
		chk(0, market.CheckClosed, 120, "1.1"), chk(1, market.CheckClosed, 180, "1.2"),
		chk(0, market.CheckProvisional, 300, "1.3"), chk(0, market.CheckProvisional, 100, "1.4"), chk(0, market.CheckClosed, 50, "1.5"),
		chk(1, market.CheckClosed, 60, "1.6"),
	}); err != nil {
		t.Fatal(err)
	}
	got, err := checks.Pending(t.Context(), []market.Stream{st}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range got {
		out = append(out, fmt.Sprintf("%d/%s/%d/%s", int(c.Time.Sub(at)/time.Minute), c.Reason, int(c.Due.Sub(at)/time.Second), c.Close))
	}
	if got, want := strings.Join(out, " "), "0/provisional/100/1.4 1/closed/180/1.2"; got != want {
		t.Fatalf("pending\n got %s\nwant %s", got, want)
	}
}

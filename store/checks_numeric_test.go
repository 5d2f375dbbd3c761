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

// A candle check's key and times are stored as given: the texts, and the
// times to the microsecond (truncated, as pgx sends them), whatever their
// zone.
func TestCandleCheckKeyAndTimes(t *testing.T) {
	_, pool := migratedDB(t)
	checks := NewCandleChecks(pool)
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("east", 5*3600+30*60))
	due := time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	c := market.CandleCheck{
		Stream: market.Stream{Exchange: market.Binance, Symbol: `ÉTH-"USDT\`, Type: market.TypeCandle, Timeframe: market.TF1h},
		Time:   at, Due: due, Reason: market.CheckClosed, Open: dec("1"), High: dec("2"), Low: dec("0.5"), Close: dec("1.5"), Volume: dec("3"),
	}
	if err := checks.Add(t.Context(), []market.CandleCheck{c}); err != nil {
		t.Fatal(err)
	}
	var ex, sym, tf, reason string
	var ts, dueAt time.Time
	if err := pool.QueryRow(t.Context(), `SELECT exchange, symbol, timeframe, reason, ts, due_at FROM candle_checks`).
		Scan(&ex, &sym, &tf, &reason, &ts, &dueAt); err != nil {
		t.Fatal(err)
	}
	if ex != string(c.Stream.Exchange) || sym != string(c.Stream.Symbol) || tf != string(c.Stream.Timeframe) || reason != string(c.Reason) {
		t.Errorf("stored %q %q %q %q, want %q %q %q %q", ex, sym, tf, reason, c.Stream.Exchange, c.Stream.Symbol, c.Stream.Timeframe, c.Reason)
	}
	if want := at.Truncate(time.Microsecond); !ts.Equal(want) {
		t.Errorf("ts stored as %s, want %s", ts, want)
	}
	if want := due.Truncate(time.Microsecond); !dueAt.Equal(want) {
		t.Errorf("due_at stored as %s, want %s", dueAt, want)
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

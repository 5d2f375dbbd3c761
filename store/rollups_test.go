package store

import (
	"testing"
	"time"
)

// TestCandleRollups checks candles_1h and candles_1d against hand-computed
// bars: only closed 1m candles count, open is the first candle's, close
// the last one's, and candles says how many minutes the bar holds.
func TestCandleRollups(t *testing.T) {
	ctx := t.Context()
	_, pool := migratedDB(t)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	// 90 closed 1m candles from 00:00: price i+100 opens minute i, closes
	// at i+101, high i+102, low i+99, volume 1. Plus a forming 1m candle
	// at 01:30 and a closed 5m candle, both of which must be left out.
	if _, err := pool.Exec(ctx, `
		INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, quote_volume, trades, closed, received_at)
		SELECT 'okx', 'BTC-USDT', '1m', $1::timestamptz + i * INTERVAL '1 minute', i + 100, i + 102, i + 99, i + 101, 1, 10, 2, true, now()
		FROM generate_series(0, 89) i`, day); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed, received_at)
		VALUES ('okx', 'BTC-USDT', '1m', $1::timestamptz + INTERVAL '90 minutes', 1, 1000, 1, 1, 50, false, now()),
		       ('okx', 'BTC-USDT', '5m', $1, 1, 1000, 1, 1, 50, true, now())`, day); err != nil {
		t.Fatal(err)
	}
	type bar struct {
		ts                                   time.Time
		open, high, low, close, volume, quot string
		trades, candles                      int64
	}
	read := func(view string) []bar {
		rows, err := pool.Query(ctx, `SELECT ts, open::text, high::text, low::text, close::text, volume::text, quote_volume::text, trades, candles
			FROM `+view+` WHERE exchange = 'okx' AND symbol = 'BTC-USDT' ORDER BY ts`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []bar
		for rows.Next() {
			var b bar
			if err := rows.Scan(&b.ts, &b.open, &b.high, &b.low, &b.close, &b.volume, &b.quot, &b.trades, &b.candles); err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	hours := read("candles_1h")
	want := []bar{
		{ts: day, open: "100", high: "161", low: "99", close: "160", volume: "60", quot: "600", trades: 120, candles: 60},
		{ts: day.Add(time.Hour), open: "160", high: "191", low: "159", close: "190", volume: "30", quot: "300", trades: 60, candles: 30},
	}
	if len(hours) != len(want) {
		t.Fatalf("candles_1h: %d bars %+v, want %d", len(hours), hours, len(want))
	}
	for i := range want {
		if !hours[i].ts.Equal(want[i].ts) || hours[i].open != want[i].open || hours[i].high != want[i].high || hours[i].low != want[i].low ||
			hours[i].close != want[i].close || hours[i].volume != want[i].volume || hours[i].quot != want[i].quot ||
			hours[i].trades != want[i].trades || hours[i].candles != want[i].candles {
			t.Errorf("candles_1h bar %d = %+v, want %+v", i, hours[i], want[i])
		}
	}
	days := read("candles_1d")
	if len(days) != 1 || !days[0].ts.Equal(day) || days[0].open != "100" || days[0].close != "190" || days[0].high != "191" ||
		days[0].low != "99" || days[0].volume != "90" || days[0].candles != 90 {
		t.Errorf("candles_1d = %+v, want one bar of 90 minutes from 100 to 190", days)
	}
}

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/sim"
	"marketetl/store"
)

// TestBackfillCommand runs etl backfill in-process against the simulator
// and a test database: the window's trades are stored exactly, the gap is
// recorded as a manual gap, filled, and the summary counts new rows and
// duplicates.
func TestBackfillCommand(t *testing.T) {
	ctx := t.Context()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	dbURL := dbtest.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL, log); err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Config{Seed: 3}, log)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(ctx) }()
	t.Cleanup(func() { <-simDone })
	if err := s.Step(ctx, 300); err != nil {
		t.Fatal(err)
	}
	truth := s.Trades(market.OKX, "BTC-USDT")
	for k, v := range map[string]string{
		"DATABASE_URL": dbURL, "DATABASE_WAIT": "0", "REDIS_ENABLED": "false", "LOG_LEVEL": "warn",
		"OKX_WS_PUBLIC_URL": ep.OKXPublicWS, "OKX_WS_BUSINESS_URL": ep.OKXBusinessWS, "OKX_REST_URL": ep.OKXREST,
		"BINANCE_WS_URL": ep.BinanceWS, "BINANCE_REST_URL": ep.BinanceREST,
		"COINBASE_WS_URL": ep.CoinbaseWS, "COINBASE_REST_URL": ep.CoinbaseREST,
	} {
		t.Setenv(k, v)
	}
	args := func(a, b int) []string {
		return []string{"backfill", "--exchange", "okx", "--symbol", "btc-usdt", "--type", "trade",
			"--from", truth[a].Time.Format(time.RFC3339Nano), "--to", truth[b].Time.Format(time.RFC3339Nano),
			"--after-id", truth[a].TradeID, "--before-id", truth[b].TradeID, "--progress", "10ms"}
	}
	var stdout, stderr syncBuffer
	if code := run(ctx, args(10, 260), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"status filled", "rows fetched:   249", "stored new:     249", "duplicates:     0", "rejected:       0 (validation), 0 (database)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "backfill: ") || !strings.Contains(stderr.String(), "249 rows") {
		t.Errorf("no progress line on stderr:\n%s", stderr.String())
	}
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT trade_id, price::text, size::text, side, ts FROM trades WHERE exchange = 'okx' AND symbol = 'BTC-USDT' ORDER BY trade_id::bigint`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, price, size, side string
		var ts time.Time
		if err := rows.Scan(&id, &price, &size, &side, &ts); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %s", id, price, size, side, ts.UTC().Format(time.RFC3339Nano)))
	}
	rows.Close()
	var want []string
	for _, w := range truth[11:260] {
		want = append(want, fmt.Sprintf("%s %s %s %s %s", w.TradeID, w.Price.StringFixed(-w.Price.Exponent()), w.Size.StringFixed(-w.Size.Exponent()), w.Side, w.Time.UTC().Format(time.RFC3339Nano)))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored trades differ from the exchange's: %d stored, want %d", len(got), len(want))
	}
	var status, reason string
	var filled int64
	if err := pool.QueryRow(ctx, `SELECT status, reason, filled_rows FROM gaps`).Scan(&status, &reason, &filled); err != nil {
		t.Fatal(err)
	}
	if status != "filled" || reason != "manual" || filled != 249 {
		t.Errorf("gaps row: %s %s %d, want filled manual 249", status, reason, filled)
	}

	// Again over a wider window: the stored rows are duplicates.
	stdout, stderr = syncBuffer{}, syncBuffer{}
	if code := run(ctx, args(0, 270), &stdout, &stderr); code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"rows fetched:   269", "stored new:     20", "duplicates:     249"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("second summary lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestBackfillCommandNamesWhatToFix(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--exchange", "bitstamp"}, `--exchange "bitstamp"`},
		{[]string{"--exchange", "okx", "--symbol", "BTCUSDT"}, `--symbol "BTCUSDT"`},
		{[]string{"--exchange", "okx", "--symbol", "BTC-USDT", "--type", "ticker"}, `--type "ticker"`},
		{[]string{"--exchange", "okx", "--symbol", "BTC-USDT", "--type", "trade", "--from", "yesterday"}, `--from "yesterday"`},
		{[]string{"--exchange", "okx", "--symbol", "BTC-USDT", "--type", "trade", "--from", "2024-05-01T10:00:00Z", "--to", "2024-05-01T09:00:00Z"}, "must be after --from"},
		{[]string{"--exchange", "okx", "--symbol", "BTC-USDT", "--type", "trade", "--from", "2024-05-01T10:00:00Z", "--to", "2024-05-01T11:00:00Z", "--after-id", "5"}, "both --after-id and --before-id"},
		{[]string{"--exchange", "okx", "--symbol", "BTC-USDT", "--type", "candle", "--timeframe", "7m", "--from", "2024-05-01T10:00:00Z", "--to", "2024-05-01T11:00:00Z"}, `--timeframe "7m"`},
	}
	for _, tc := range tests {
		var stdout, stderr syncBuffer
		code := run(t.Context(), append([]string{"backfill"}, tc.args...), &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

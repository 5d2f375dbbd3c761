package faults

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"marketetl/dbtest"
	"marketetl/store"
)

// TestDuplicatesAsAUserSeesThem proves the rig's duplicate check can fail:
// the same candle under two keys (open times a millisecond apart) and the
// same trade id under two times are both counted, though the primary keys
// differ.
func TestDuplicatesAsAUserSeesThem(t *testing.T) {
	url := dbtest.NewDatabase(t)
	if err := store.Migrate(t.Context(), url, nil); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	r := &rig{t: t, ctx: t.Context(), check: pool}
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(t.Context(), sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed, received_at) VALUES
		('okx', 'BTC-USDT', '1m', '2026-01-01 00:00:00+00', 1, 1, 1, 1, 1, true, now()),
		('okx', 'BTC-USDT', '1m', '2026-01-01 00:01:00+00', 1, 1, 1, 1, 1, true, now()),
		('okx', 'ETH-USDT', '1m', '2026-01-01 00:00:00+00', 1, 1, 1, 1, 1, true, now())`)
	exec(`INSERT INTO trades (exchange, symbol, trade_id, ts, price, size, side, received_at) VALUES
		('okx', 'BTC-USDT', '1', '2026-01-01 00:00:00+00', 1, 1, 'buy', now()),
		('okx', 'BTC-USDT', '2', '2026-01-01 00:00:00+00', 1, 1, 'buy', now()),
		('okx', 'ETH-USDT', '1', '2026-01-01 00:00:00+00', 1, 1, 'buy', now())`)
	if n := r.duplicates(); n != 0 {
		t.Fatalf("%d duplicates among distinct rows", n)
	}
	exec(`INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed, received_at) VALUES
		('okx', 'BTC-USDT', '1m', '2026-01-01 00:00:00.001+00', 1, 1, 1, 1, 1, true, now())`)
	exec(`INSERT INTO trades (exchange, symbol, trade_id, ts, price, size, side, received_at) VALUES
		('okx', 'BTC-USDT', '1', '2026-01-01 00:00:00.001+00', 1, 1, 'buy', now())`)
	if n := r.duplicates(); n != 2 {
		t.Errorf("%d duplicates, want 2 (a candle a millisecond off, a trade id at another time)", n)
	}
}

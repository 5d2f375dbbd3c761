package service

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/config"
	"marketetl/market"
)

// fakeAdapter stands for an exchange the test never dials.
type fakeAdapter struct {
	collector.Protocol
	collector.History
}

// TestGapsReportedBeforeTheFillerRunsAreKept builds the service with a
// spool and reports a gap the way the full spool does (through the relay
// handed to the spool before the filler existed) before Run starts the
// filler: the gap is recorded in the gaps table once the service runs.
func TestGapsReportedBeforeTheFillerRunsAreKept(t *testing.T) {
	ctx := t.Context()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	_, pool := migratedPool(t, log)
	cfg := quietConfig(t, t.TempDir())
	reg := Registry{market.OKX: {New: func(Endpoints, *http.Client) (Adapter, error) { return fakeAdapter{}, nil }}}
	svc, err := New(cfg, pool, reg, WithLogger(log), WithoutSupervisor())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	g := market.Gap{Stream: market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade},
		From: at, To: at.Add(time.Minute), AfterID: 10, BeforeID: 20, Reason: market.GapSpoolFull}
	svc.spoolGaps.RecordGap(g)

	count := func(ctx context.Context) int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM gaps WHERE reason = 'spool_full' AND after_trade_id = 10`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	err = svc.RunWith(ctx, func(ctx context.Context) error {
		deadline := time.Now().Add(30 * time.Second) // a bound for a hung test, not a speed assertion
		for count(ctx) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling a condition
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(ctx); n != 1 {
		t.Fatalf("%d gaps recorded, want the 1 reported before the filler ran", n)
	}
}

// TestNewNamesWhatIsMissing checks that New refuses to build without a
// database pool or without exchanges, and that a registry entry without a
// constructor is named.
func TestNewNamesWhatIsMissing(t *testing.T) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SpoolDir, cfg.RedisEnabled = "", false
	pool, err := pgxpool.New(t.Context(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable") // never connected
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	okx := Registry{market.OKX: {New: func(Endpoints, *http.Client) (Adapter, error) { return fakeAdapter{}, nil }}}
	tests := []struct {
		name string
		pool *pgxpool.Pool
		reg  Registry
		want string
	}{
		{"no pool", nil, okx, "no database pool"},
		{"no exchanges", pool, nil, "no exchanges registered"},
		{"no constructor", pool, Registry{market.Binance: {}}, "exchange binance: no constructor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(cfg, tc.pool, tc.reg, WithoutSupervisor())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/config"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/service"
	"marketetl/sim"
	"marketetl/spec"
	"marketetl/supervisor"
)

// balancesNow is README's "balances now" query.
const balancesNow = `SELECT DISTINCT ON (exchange, account, asset) asset, free, locked
FROM balances WHERE exchange = $1 AND account = $2
ORDER BY exchange, account, asset, ts DESC`

// balanceRig is the service with the simulated exchange's private side:
// a balance collector per exchange with the simulator's demo keys.
type balanceRig struct {
	pool *pgxpool.Pool
	sim  *sim.Sim
	svc  *service.Service
}

func newBalanceRig(t *testing.T, ctx context.Context, tune func(*config.Config)) *balanceRig {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	_, pool := migratedPool(t, ctx, log)
	t.Cleanup(pool.Close)
	s, err := sim.New(sim.Config{Seed: 21, Rate: 20}, log)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.HealthCheckInterval, cfg.GlobalHealthCheckInterval = 200*time.Millisecond, time.Second
	cfg.ReconnectDelay, cfg.ReconnectDelayMax = 20*time.Millisecond, 100*time.Millisecond
	cfg.StopTimeout, cfg.ShutdownTimeout = 5*time.Second, 10*time.Second
	cfg.StoreFlushInterval = 10 * time.Millisecond
	cfg.AdminAddr, cfg.SpoolDir, cfg.RedisEnabled = "", "", false
	if tune != nil {
		tune(&cfg)
	}
	env := map[string]string{}
	for ex, name := range map[market.Exchange]string{market.OKX: "OKX_MAIN", market.Binance: "BINANCE_MAIN", market.Coinbase: "COINBASE_MAIN"} {
		k := sim.DemoAPIKey(ex)
		env[name+"_API_KEY"], env[name+"_API_SECRET"], env[name+"_API_PASSPHRASE"] = k.Key, k.Secret, k.Passphrase
	}
	svc, err := service.New(cfg, pool, exchange.Registry(), service.WithLogger(log),
		service.WithEndpoints(service.Endpoints(ep)),
		service.WithPrivateEndpoints(service.PrivateEndpoints{OKXPrivateWS: ep.OKXPrivateWS(), BinanceWSAPI: ep.BinanceWSAPI()}),
		service.WithCredentialsLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
		service.WithCollectorConfig(func(c *collector.Config) { c.BackoffMin, c.BackoffMax = 10*time.Millisecond, 50*time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	return &balanceRig{pool: pool, sim: s, svc: svc}
}

// balanceSpec is ex's balance collector, account main.
func balanceSpec(ex market.Exchange, reconcile time.Duration) spec.Collector {
	return spec.Collector{Name: string(ex) + "-balances", Exchange: ex, DataTypes: []market.DataType{market.TypeBalance},
		Credentials: strings.ToUpper(string(ex)) + "_MAIN", ReconcileInterval: spec.Duration(reconcile)}
}

func (r *balanceRig) run(t *testing.T, ctx context.Context, cancel context.CancelFunc, specs ...spec.Collector) {
	t.Helper()
	if _, err := r.svc.Supervisor().Reconcile(ctx, specs); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.svc.RunWith(ctx, r.sim.Run) }() // owned by the cleanup's wait
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("service: %v", err)
		}
	})
}

// stored returns the database's balances now of ex's account main.
func (r *balanceRig) stored(t *testing.T, ctx context.Context, ex market.Exchange) map[string][2]decimal.Decimal {
	rows, err := r.pool.Query(ctx, balancesNow, string(ex), spec.DefaultAccount)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][2]decimal.Decimal{}
	for rows.Next() {
		var asset string
		var free, locked decimal.Decimal
		if err := rows.Scan(&asset, &free, &locked); err != nil {
			t.Fatal(err)
		}
		out[asset] = [2]decimal.Decimal{free, locked}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// matches reports whether the database's balances now are exactly the
// exchange's.
func (r *balanceRig) matches(t *testing.T, ctx context.Context, ex market.Exchange) (bool, string) {
	got, want := r.stored(t, ctx, ex), r.sim.CurrentBalances(ex)
	state := fmt.Sprintf("stored %v, exchange %v", got, want)
	if len(got) != len(want) {
		return false, state
	}
	for a, w := range want {
		g, ok := got[a]
		if !ok || !g[0].Equal(w.Free) || !g[1].Equal(w.Locked) {
			return false, state
		}
	}
	return true, state
}

// TestBalancesEndToEnd runs a balance collector per exchange under the
// supervisor against the simulated exchange and PostgreSQL: every change
// the exchange pushed is a row, changes it did not push are stored by the
// snapshot after a dropped connection (OKX and Binance) or by the periodic
// reconciliation (Coinbase), and the database's balances now equal the
// exchange's exactly. The exchange's clock runs 40 s ahead of the host's.
func TestBalancesEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The records carry the exchange's time, 40 s ahead: validation must
	// allow it as it would allow a host clock that far behind.
	r := newBalanceRig(t, ctx, func(c *config.Config) { c.ValidateClockSkew = time.Minute })
	exchanges := []market.Exchange{market.OKX, market.Binance, market.Coinbase}
	var specs []spec.Collector
	for _, ex := range exchanges {
		// The exchange's clock runs 40 s ahead of the host's: the logins
		// succeed only because the signatures use the measured exchange time.
		r.sim.SetServerClockOffset(ex, 40*time.Second)
		if _, err := r.sim.SetBalances(ex, false,
			sim.BalanceChange{Asset: "BTC", Free: decimal.RequireFromString("0.5"), Locked: decimal.RequireFromString("0.125")},
			sim.BalanceChange{Asset: "USDT", Free: decimal.RequireFromString("2500.000001"), Locked: decimal.Zero}); err != nil {
			t.Fatal(err)
		}
		reconcile := time.Hour // OKX, Binance: only the reconnect snapshot may find the unpushed change
		if ex == market.Coinbase {
			reconcile = 100 * time.Millisecond
		}
		specs = append(specs, balanceSpec(ex, reconcile))
	}
	r.run(t, ctx, cancel, specs...)
	pushed := map[market.Exchange][]market.Balance{}
	set := func(ex market.Exchange, push bool, changes ...sim.BalanceChange) {
		t.Helper()
		bs, err := r.sim.SetBalances(ex, push, changes...)
		if err != nil {
			t.Fatal(err)
		}
		if push {
			pushed[ex] = append(pushed[ex], bs...)
		}
	}
	for _, ex := range exchanges {
		eventually(t, string(ex)+": the start snapshot stored", func() (bool, string) { return r.matches(t, ctx, ex) })
		set(ex, true, sim.BalanceChange{Asset: "BTC", Free: decimal.RequireFromString("0.45"), Locked: decimal.RequireFromString("0.175")})
		eventually(t, string(ex)+": the pushed change stored", func() (bool, string) { return r.matches(t, ctx, ex) })
		// Not pushed, then the connection drops: the snapshot after the
		// reconnect stores them (USDT, now zero, is missing from OKX's and
		// Binance's snapshots).
		set(ex, false, sim.BalanceChange{Asset: "ETH", Free: decimal.RequireFromString("3"), Locked: decimal.Zero},
			sim.BalanceChange{Asset: "USDT", Free: decimal.Zero, Locked: decimal.Zero})
		r.sim.DropConnections(ex)
		eventually(t, string(ex)+": the changes made during the disconnect stored", func() (bool, string) { return r.matches(t, ctx, ex) })
	}
	set(market.Coinbase, false, sim.BalanceChange{Asset: "ETH", Free: decimal.RequireFromString("2.5"), Locked: decimal.RequireFromString("0.5")})
	eventually(t, "coinbase: the change never pushed stored by the reconciliation", func() (bool, string) {
		return r.matches(t, ctx, market.Coinbase)
	})
	rep, err := r.svc.Supervisor().Status("coinbase-balances")
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Statistics.BalanceCorrections; c == nil || *c == 0 {
		t.Errorf("coinbase: balance_corrections %v, want the reconciliation's correction counted", c)
	}
	if rep.Statistics.ServerClockOffsetSeconds == nil {
		t.Error("coinbase: no server_clock_offset_seconds in the status")
	}
	for _, ex := range exchanges {
		set(ex, true, sim.BalanceChange{Asset: "BTC", Free: decimal.RequireFromString("0.4"), Locked: decimal.Zero})
		eventually(t, string(ex)+": the last change stored", func() (bool, string) { return r.matches(t, ctx, ex) })
		for _, b := range pushed[ex] {
			var n int
			if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM balances WHERE exchange = $1 AND account = 'main' AND asset = $2
				AND ts = $3 AND free = $4 AND locked = $5`, string(ex), string(b.Symbol), b.Time, b.Free, b.Locked).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%s: pushed change %s %s/%s at %s: %d rows, want 1", ex, b.Symbol, b.Free, b.Locked, b.Time, n)
			}
		}
	}
}

// TestBalancesRefusedLogin: the exchange refusing the keys fails the
// collector after MAX_RECONNECT_ATTEMPTS with the exchange's code in the
// reason, while the other collectors stay healthy.
func TestBalancesRefusedLogin(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newBalanceRig(t, ctx, func(c *config.Config) { c.MaxReconnectAttempts = 2 })
	r.sim.RefuseLogins(market.OKX, true)
	if _, err := r.sim.SetBalances(market.Binance, false, sim.BalanceChange{Asset: "BTC", Free: decimal.RequireFromString("1"), Locked: decimal.Zero}); err != nil {
		t.Fatal(err)
	}
	r.run(t, ctx, cancel, balanceSpec(market.OKX, 0), balanceSpec(market.Binance, 0))
	m := r.svc.Supervisor()
	var rep supervisor.CollectorReport
	eventually(t, "the refused collector failed", func() (bool, string) {
		var err error
		if rep, err = m.Status("okx-balances"); err != nil {
			t.Fatal(err)
		}
		return rep.Status == supervisor.StateFailed, fmt.Sprintf("%s: %s", rep.Status, rep.StatusReason)
	})
	if !strings.Contains(rep.StatusReason, "okx error 600") || !strings.Contains(rep.StatusReason, "credentials refused") {
		t.Errorf("reason %q should name the refusal and OKX's code", rep.StatusReason)
	}
	h, err := m.Health("okx-balances")
	if err != nil {
		t.Fatal(err)
	}
	if h.IsHealthy || !strings.Contains(strings.Join(h.Issues, "; "), "okx error 600") {
		t.Errorf("health %v %q: want an issue with OKX's code", h.IsHealthy, h.Issues)
	}
	if !strings.Contains(rep.StatusReason, "3 consecutive failures") {
		t.Errorf("reason %q: want the collector failed after MAX_RECONNECT_ATTEMPTS (2) retries", rep.StatusReason)
	}
	eventually(t, "the other collector stores and stays healthy", func() (bool, string) {
		ok, state := r.matches(t, ctx, market.Binance)
		h, err := m.Health("binance-balances")
		if err != nil {
			t.Fatal(err)
		}
		return ok && h.IsHealthy, fmt.Sprintf("%s; health %v", state, h.Issues)
	})
	t.Logf("failed: %s", rep.StatusReason)
}

// TestBalanceCredentialsCheckedAtStartup: a missing variable and a key
// file others can read are reported at startup, naming the collector and
// the variable, never a value.
func TestBalanceCredentialsCheckedAtStartup(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newBalanceRig(t, ctx, nil)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("s3cr3t-value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OKX_MAIN_API_KEY": "k3y-value", "OKX_MAIN_API_SECRET": "s3cr3t-value",
		"BINANCE_MAIN_API_KEY": "k3y-value", "BINANCE_MAIN_API_SECRET_FILE": file,
		"CB_BOOKS_API_KEY": "k3y-value", "CB_BOOKS_API_SECRET": "czNjcjN0"}
	// A Coinbase order book collector with keys (the authenticated level2
	// channel) has its keys checked the same way.
	books := spec.Collector{Name: "coinbase-books", Exchange: market.Coinbase, Symbols: []market.Symbol{"BTC-USD"},
		DataTypes: []market.DataType{market.TypeOrderBook}, Credentials: "cb_books"}
	specs := []spec.Collector{balanceSpec(market.OKX, 0), balanceSpec(market.Binance, 0), books}
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.AdminAddr, cfg.SpoolDir, cfg.RedisEnabled = "", "", false
	svc, err := service.New(cfg, r.pool, exchange.Registry(), service.WithoutSupervisor(), service.WithoutBackfill(),
		service.WithCredentialsLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	if err != nil {
		t.Fatal(err)
	}
	err = svc.CheckCredentials(specs)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"collector okx-balances", "OKX_MAIN_API_PASSPHRASE is not set", "collector binance-balances", "BINANCE_MAIN_API_SECRET_FILE", "chmod 600",
		"collector coinbase-books", "CB_BOOKS_API_PASSPHRASE is not set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "k3y") {
		t.Errorf("error %q holds a value", err)
	}
	env["OKX_MAIN_API_PASSPHRASE"] = "p"
	env["CB_BOOKS_API_PASSPHRASE"] = "p"
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := svc.CheckCredentials(specs); err != nil {
		t.Errorf("complete keys: %v", err)
	}
}

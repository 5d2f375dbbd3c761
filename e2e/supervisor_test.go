package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/config"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/service"
	"marketetl/sim"
	"marketetl/spec"
)

// TestStalledExchangeIsRestartedAndResumes runs the real collector under
// the supervisor against the simulated exchange and PostgreSQL: while the
// exchange stalls (the connection stays open, pings are answered, no data
// flows), the health report names the stale stream and the supervisor
// restarts the collector; once the exchange trades again, data resumes.
func TestStalledExchangeIsRestartedAndResumes(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	_, pool := migratedPool(t, ctx, log)
	defer pool.Close()
	s, err := sim.New(sim.Config{Seed: 9, Rate: 50}, log)
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
	cfg.MaxSilence, cfg.HeartbeatTimeout = time.Second, 30*time.Second
	cfg.ReconnectDelay, cfg.ReconnectDelayMax = 50*time.Millisecond, 200*time.Millisecond
	cfg.StopTimeout, cfg.ShutdownTimeout = 5*time.Second, 10*time.Second
	cfg.StoreFlushInterval = 10 * time.Millisecond
	cfg.AdminAddr, cfg.SpoolDir, cfg.RedisEnabled = "", "", false
	svc, err := service.New(cfg, pool, exchange.Registry(), service.WithLogger(log), service.WithEndpoints(service.Endpoints(ep)))
	if err != nil {
		t.Fatal(err)
	}
	m := svc.Supervisor()
	okxStall := spec.Collector{Name: "okx-stall", Exchange: market.OKX, Symbols: []market.Symbol{"BTC-USDT"}, DataTypes: []market.DataType{market.TypeTrade}}
	if _, err := m.Reconcile(ctx, []spec.Collector{okxStall}); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- svc.RunWith(ctx, s.Run) }() // owned by the deferred wait below
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("service: %v", err)
		}
	}()

	trades := func() int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM trades").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually(t, "trades flowing", func() (bool, string) { n := trades(); return n > 0, fmt.Sprint(n, " trades") })

	s.Stall(market.OKX, true)
	var issue string
	eventually(t, "the stale stream reported and the collector restarted", func() (bool, string) {
		h, err := m.Health("okx-stall")
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range h.Issues {
			if strings.Contains(is, "no data on trades for BTC-USDT") {
				issue = is
			}
		}
		st, err := m.Status("okx-stall")
		if err != nil {
			t.Fatal(err)
		}
		return issue != "" && st.Statistics.RestartsByTrigger["stale_data"] >= 1,
			fmt.Sprintf("issues %v restarts %v", h.Issues, st.Statistics.RestartsByTrigger)
	})
	before := trades()
	s.Stall(market.OKX, false)
	eventually(t, "data again after the stall", func() (bool, string) {
		n := trades()
		return n > before, fmt.Sprintf("%d trades, %d before", n, before)
	})
	eventually(t, "healthy again", func() (bool, string) {
		h, err := m.Health("okx-stall")
		if err != nil {
			t.Fatal(err)
		}
		return h.IsHealthy, fmt.Sprint(h.Issues)
	})
	t.Logf("reported: %s", issue)
}

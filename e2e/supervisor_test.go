package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	"marketetl/collector"
	"marketetl/collector/okx"
	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/sim"
	"marketetl/spec"
	"marketetl/store"
	"marketetl/supervisor"
	"marketetl/validate"
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
	dbURL := dbtest.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL, log); err != nil {
		t.Fatal(err)
	}
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := sim.New(sim.Config{Seed: 9, Rate: 50}, log)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.New(store.Config{FlushInterval: 10 * time.Millisecond}, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	v, err := validate.New(validate.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := pipeline.New(pipeline.Config{Checker: v, Store: w})
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST})
	if err != nil {
		t.Fatal(err)
	}
	factory := func(spec spec.Collector) (supervisor.Runner, error) {
		return collector.New(collector.Config{Name: spec.Name, Streams: spec.Streams(), Log: log}, adapter, pipe)
	}
	m, err := supervisor.New(supervisor.Config{
		HealthCheckInterval: 200 * time.Millisecond, GlobalHealthCheckInterval: time.Second,
		MaxSilence: time.Second, HeartbeatTimeout: 30 * time.Second,
		ReconnectDelay: 50 * time.Millisecond, ReconnectDelayMax: 200 * time.Millisecond,
		StopTimeout: 5 * time.Second, ShutdownTimeout: 10 * time.Second, Log: log,
	}, factory, store.NewRegistry(pool), store.NewStatusLog(pool))
	if err != nil {
		t.Fatal(err)
	}
	okxStall := spec.Collector{Name: "okx-stall", Exchange: market.OKX, Symbols: []market.Symbol{"BTC-USDT"}, DataTypes: []market.DataType{market.TypeTrade}}
	if _, err := m.Reconcile(ctx, []spec.Collector{okxStall}); err != nil {
		t.Fatal(err)
	}

	dataCtx, stopData := context.WithCancel(context.WithoutCancel(ctx))
	dataDone := make(chan error, 1)
	go func() { dataDone <- w.Run(dataCtx) }()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error { return m.Run(gctx) })
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("supervisor side: %v", err)
		}
		stopData()
		if err := <-dataDone; err != nil {
			t.Errorf("writer: %v", err)
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

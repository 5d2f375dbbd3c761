package e2e

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	"marketetl/collector"
	"marketetl/config"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/service"
	"marketetl/sim"
	"marketetl/spec"
)

// gapTap keeps the gaps the collector records, besides passing them on.
type gapTap struct {
	mu   sync.Mutex
	next collector.GapRecorder
	gaps []market.Gap
}

func (g *gapTap) RecordGap(gap market.Gap) {
	g.mu.Lock()
	g.gaps = append(g.gaps, gap)
	g.mu.Unlock()
	if g.next != nil {
		g.next.RecordGap(gap)
	}
}

// TestHostClockOffFromTheExchanges runs the service on a host clock 10 s
// behind and 10 s ahead of the simulated exchange, whose trades are all
// stamped at its own present. Behind, no trade is refused, not even the
// first ones: the collector reads the exchange's server time before it
// dials, and validation allows the measured offset from the first trade.
// Ahead, nothing is refused either. 10 minutes behind, beyond the 5-minute
// cap of the correction, every trade is refused as being in the future,
// kept in rejects and covered by a rejected gap. Every trade is stored or
// covered by a gap, and the measured skew is reported in the collector's
// status and in etl_exchange_clock_skew_seconds.
func TestHostClockOffFromTheExchanges(t *testing.T) {
	const total = 40
	tests := []struct {
		name    string
		host    time.Duration // the host clock's offset from the exchange's
		refused int
	}{
		{name: "host 10s behind", host: -10 * time.Second, refused: 0},
		{name: "host 10s ahead", host: 10 * time.Second, refused: 0},
		{name: "host 10min behind, beyond the cap", host: -10 * time.Minute, refused: total},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
			_, pool := migratedPool(t, ctx, log)
			defer pool.Close()
			// The exchange's trades are stamped at its present, a
			// millisecond apart.
			s, err := sim.New(sim.Config{Seed: 7, Start: time.Now().Add(-time.Second), Step: time.Millisecond}, log)
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
			cfg.RedisEnabled, cfg.SpoolDir, cfg.StoreFlushInterval = false, "", 10*time.Millisecond
			tap := &gapTap{}
			svc, err := service.New(cfg, pool, exchange.Registry(), service.WithLogger(log), service.WithoutSupervisor(),
				service.WithoutBackfill(), service.WithEndpoints(service.Endpoints(ep)),
				service.WithClock(func() time.Time { return time.Now().Add(tc.host) }),
				service.WithCollectorConfig(func(c *collector.Config) { tap.next, c.Gaps = c.Gaps, tap }))
			if err != nil {
				t.Fatal(err)
			}
			trades := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade}
			col, err := svc.Collector(spec.Collector{Name: "clock", Exchange: market.Binance, Symbols: []market.Symbol{"BTC-USDT"},
				DataTypes: []market.DataType{market.TypeTrade}})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { // awaited below
				done <- svc.RunWith(ctx, func(ctx context.Context) error {
					g, gctx := errgroup.WithContext(ctx)
					g.Go(func() error { return s.Run(gctx) })
					g.Go(func() error { return col.Run(gctx) })
					return g.Wait()
				})
			}()
			if err := s.WaitSubscribed(ctx, trades); err != nil {
				t.Fatal(err)
			}
			if err := s.Step(ctx, total); err != nil {
				t.Fatal(err)
			}
			count := func(sql string) int {
				var n int
				if err := pool.QueryRow(t.Context(), sql).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			eventually(t, "every trade stored or refused", func() (bool, string) {
				stored := count(`SELECT count(*) FROM trades WHERE symbol = 'BTC-USDT'`)
				rejected := count(`SELECT count(*) FROM rejects WHERE reason = 'timestamp_in_future'`)
				return stored+rejected == total, strconv.Itoa(stored) + " stored, " + strconv.Itoa(rejected) + " refused"
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("service: %v", err)
			}
			if n := count(`SELECT count(*) FROM rejects WHERE reason = 'timestamp_in_future'`); n != tc.refused {
				t.Errorf("%d trades refused, want %d", n, tc.refused)
			}
			// Every trade the exchange published is stored or covered by
			// a rejected gap, by id.
			var covered int
			for _, tr := range s.Trades(market.Binance, "BTC-USDT") {
				id, _ := strconv.ParseInt(tr.TradeID, 10, 64)
				var stored int
				if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM trades WHERE symbol = 'BTC-USDT' AND trade_id = $1`, tr.TradeID).Scan(&stored); err != nil {
					t.Fatal(err)
				}
				if stored == 1 {
					continue
				}
				tap.mu.Lock()
				for _, g := range tap.gaps {
					if g.Reason == market.GapRejected && g.AfterID < id && id < g.BeforeID {
						covered++
						break
					}
				}
				tap.mu.Unlock()
			}
			tap.mu.Lock()
			ngaps := len(tap.gaps)
			tap.mu.Unlock()
			if covered != tc.refused || ngaps != tc.refused {
				t.Errorf("%d refused trades covered by %d gaps, want %d and %d", covered, ngaps, tc.refused, tc.refused)
			}
			// The skew is measured: the host's offset, plus latency.
			st := col.Status()
			if !st.ClockSkewKnown || st.ClockSkew < tc.host-time.Millisecond || st.ClockSkew > tc.host+5*time.Second {
				t.Errorf("status clock skew %s (known %v), want about %s", st.ClockSkew, st.ClockSkewKnown, tc.host)
			}
			mfs, err := svc.Metrics().Gather()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, mf := range mfs {
				if mf.GetName() != "etl_exchange_clock_skew_seconds" {
					continue
				}
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "binance" && m.GetGauge().GetValue() == st.ClockSkew.Seconds() {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("etl_exchange_clock_skew_seconds{exchange=\"binance\"} missing or not %v", st.ClockSkew.Seconds())
			}
		})
	}
}

package service

import (
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"marketetl/collector"
	"marketetl/config"
	"marketetl/market"
	"marketetl/spec"
)

// pacedAdapter plans one connection for any streams of its exchange and
// declares a dial pace (none when zero).
type pacedAdapter struct {
	fakeAdapter
	ex   market.Exchange
	pace collector.Pace
}

func (a pacedAdapter) Exchange() market.Exchange { return a.ex }

func (a pacedAdapter) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	return []collector.ConnPlan{{Key: "only", URL: "ws://127.0.0.1:1", Streams: streams}}, nil
}

func (a pacedAdapter) Limits() collector.Limits { return collector.Limits{Dials: a.pace} }

// TestCollectorsOfAnExchangeGetOneDialPacer: every collector the service
// builds for an exchange is given that exchange's one DialPacer (keeping
// to the pace its adapter declares); another exchange's is another, and
// an exchange that declares no pace gets none.
func TestCollectorsOfAnExchangeGetOneDialPacer(t *testing.T) {
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
	adapter := func(ex market.Exchange, pace collector.Pace) Exchange {
		return Exchange{New: func(Endpoints, *http.Client) (Adapter, error) { return pacedAdapter{ex: ex, pace: pace}, nil }}
	}
	reg := Registry{
		market.OKX:      adapter(market.OKX, collector.Pace{PerSecond: 2, Burst: 1}),
		market.Binance:  adapter(market.Binance, collector.Pace{PerSecond: 0.9, Burst: 30}),
		market.Coinbase: adapter(market.Coinbase, collector.Pace{}),
	}
	dials := map[string]*collector.DialPacer{}
	svc, err := New(cfg, pool, reg, WithoutSupervisor(), WithoutBackfill(), WithCollectorConfig(func(c *collector.Config) { dials[c.Name] = c.Dials }))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ex   market.Exchange
	}{{"okx-a", market.OKX}, {"okx-b", market.OKX}, {"binance-a", market.Binance}, {"coinbase-a", market.Coinbase}} {
		sp := spec.Collector{Name: c.name, Exchange: c.ex, Symbols: []market.Symbol{"BTC-USDT"}, DataTypes: []market.DataType{market.TypeTrade}}
		if _, err := svc.Collector(sp); err != nil {
			t.Fatalf("collector %s: %v", c.name, err)
		}
	}
	if dials["okx-a"] == nil || dials["okx-a"] != dials["okx-b"] {
		t.Errorf("the OKX collectors got dial pacers %p and %p, want one shared", dials["okx-a"], dials["okx-b"])
	}
	if dials["binance-a"] == nil || dials["binance-a"] == dials["okx-a"] {
		t.Errorf("Binance's dial pacer %p, want its own (OKX's is %p)", dials["binance-a"], dials["okx-a"])
	}
	if dials["coinbase-a"] != nil {
		t.Errorf("an exchange declaring no dial pace got a pacer")
	}
}

package service

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/spec"
)

// unreachableAdapter plans one connection to a port nothing listens on.
type unreachableAdapter struct{ fakeAdapter }

func (unreachableAdapter) Exchange() market.Exchange { return market.OKX }

func (unreachableAdapter) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	return []collector.ConnPlan{{Key: "none", URL: "ws://127.0.0.1:1/", Streams: streams}}, nil
}

func (unreachableAdapter) KeepAlive() collector.KeepAlive { return collector.KeepAlive{} }

// TestCollectorsGiveUpAfterMaxReconnectAttempts: a collector built by the
// service redials a connection that cannot be dialled
// MAX_RECONNECT_ATTEMPTS times, RECONNECT_DELAY apart (doubling), and then
// hands over to the supervisor (ErrDialsExhausted) instead of redialling
// for ever.
func TestCollectorsGiveUpAfterMaxReconnectAttempts(t *testing.T) {
	ctx := t.Context()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	_, pool := migratedPool(t, log)
	cfg := quietConfig(t, t.TempDir())
	cfg.ReconnectDelay, cfg.ReconnectDelayMax, cfg.MaxReconnectAttempts = 10*time.Millisecond, 20*time.Millisecond, 2
	reg := Registry{market.OKX: {New: func(Endpoints, *http.Client) (Adapter, error) { return unreachableAdapter{}, nil }}}
	svc, err := New(cfg, pool, reg, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	col, err := svc.Collector(spec.Collector{Name: "okx", Exchange: market.OKX, Symbols: []market.Symbol{"BTC-USDT"},
		DataTypes: []market.DataType{market.TypeTrade}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, time.Minute) // a bound for a hung test, not a speed assertion
	defer cancel()
	err = col.Run(runCtx)
	if !errors.Is(err, collector.ErrDialsExhausted) {
		t.Fatalf("Run returned %v, want ErrDialsExhausted after %d failed redials", err, cfg.MaxReconnectAttempts)
	}
	if n := col.Status().Reconnects; n != uint64(cfg.MaxReconnectAttempts) {
		t.Errorf("%d redials, want MAX_RECONNECT_ATTEMPTS = %d", n, cfg.MaxReconnectAttempts)
	}
}

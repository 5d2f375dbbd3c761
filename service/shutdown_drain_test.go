package service

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/market"
	"marketetl/store"
)

// TestWriterDrainEndsAtTheShutdownDeadline: the writer's final drain ends
// at the service's one shutdown deadline, not after its own
// SHUTDOWN_TIMEOUT. The shutdown clock is set so that the deadline has
// already passed when the shutdown begins, and the trades table is locked:
// the records accepted are spilled to the spool at once, none is stored.
// (Were the drain to ignore the deadline, it would wait for the lock, which
// is released after 30 s, and store them.)
func TestWriterDrainEndsAtTheShutdownDeadline(t *testing.T) {
	ctx := t.Context()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	_, pool := migratedPool(t, log)
	cfg := quietConfig(t, t.TempDir())
	cfg.ShutdownTimeout = time.Hour
	reg := Registry{market.OKX: {New: func(Endpoints, *http.Client) (Adapter, error) { return fakeAdapter{}, nil }}}
	svc, err := New(cfg, pool, reg, WithLogger(log), WithoutSupervisor())
	if err != nil {
		t.Fatal(err)
	}
	svc.shutdown.now = func() time.Time { return time.Now().Add(-2 * time.Hour) } // the deadline has passed

	lock, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := lock.Exec(ctx, "LOCK TABLE trades IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	release := time.AfterFunc(30*time.Second, func() { _ = lock.Rollback(context.WithoutCancel(ctx)) }) // a bound, not a speed assertion
	defer release.Stop()

	const n = 3
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	err = svc.RunWith(ctx, func(ctx context.Context) error {
		for i := range n {
			tr := &market.Trade{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Time: at.Add(time.Duration(i) * time.Second), Received: at},
				TradeID: string(rune('1' + i)), Price: decimal.RequireFromString("100.5"), Size: decimal.RequireFromString("1"), Side: market.Buy}
			if err := svc.Pipeline().Accept(ctx, tr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := svc.Writer().Stats().Tables[store.TableTrades]; st.Spilled != n || st.Inserted != 0 || st.Lost != 0 {
		t.Errorf("trades %+v: want %d spilled at the deadline, none stored or lost", st, n)
	}
}

// TestShutdownDeadlineStartsWhenTheContextEnds: SHUTDOWN_TIMEOUT counts
// from the moment Run's context ends, not from when the collectors have
// stopped. The collectors (fn) take 10 s of the clock to stop after the
// context ended; the writer's drain deadline is still the timeout from the
// end of the context.
func TestShutdownDeadlineStartsWhenTheContextEnds(t *testing.T) {
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	_, pool := migratedPool(t, log)
	cfg := quietConfig(t, t.TempDir())
	cfg.ShutdownTimeout = 25 * time.Second
	reg := Registry{market.OKX: {New: func(Endpoints, *http.Client) (Adapter, error) { return fakeAdapter{}, nil }}}
	svc, err := New(cfg, pool, reg, WithLogger(log), WithoutSupervisor())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var (
		mu    sync.Mutex
		now   = start
		begun = make(chan struct{})
		once  sync.Once
	)
	svc.shutdown.now = func() time.Time {
		once.Do(func() { close(begun) })
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	ctx, cancel := context.WithCancel(t.Context())
	err = svc.RunWith(ctx, func(ctx context.Context) error {
		cancel()
		<-ctx.Done()
		// The deadline is started by the end of the context, before the
		// collectors return; the bound only keeps a broken wiring from
		// hanging the test.
		select {
		case <-begun:
		case <-time.After(time.Minute):
			t.Error("the shutdown deadline did not start when the context ended")
		}
		mu.Lock()
		now = now.Add(10 * time.Second) // the collectors' stop
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := svc.shutdown.drainBy(), start.Add(23*time.Second); !got.Equal(want) {
		t.Errorf("drain by %s, want %s: 25 s less the 2 s spill reserve, from the end of the context", got, want)
	}
}

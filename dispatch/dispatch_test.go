package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shopspring/decimal"
	"go.uber.org/goleak"

	"marketetl/market"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func trade(ex market.Exchange, sym market.Symbol, id int) *market.Trade {
	return &market.Trade{Meta: market.Meta{Exchange: ex, Symbol: sym}, TradeID: decimal.NewFromInt(int64(id)).String(),
		Price: decimal.NewFromInt(100), Size: decimal.NewFromInt(1)}
}

// recorder keeps the ids it was called with.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) add(rec market.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, rec.(*market.Trade).TradeID)
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// start runs d until the test's bubble ends it.
func start(t *testing.T, d *Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestFilterAndOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := New(nil)
		stop := start(t, d)
		defer stop()
		var all, btc recorder
		if _, err := d.Subscribe(Filter{}, all.add, Options{Name: "all"}); err != nil {
			t.Fatal(err)
		}
		if _, err := OnTrade(d, Filter{Exchanges: []market.Exchange{market.OKX}, Symbols: []market.Symbol{"BTC-USDT"}},
			func(tr *market.Trade) { btc.add(tr) }, Options{Name: "btc"}); err != nil {
			t.Fatal(err)
		}
		var want, wantBTC []string
		for i := range 1000 {
			sym := market.Symbol("BTC-USDT")
			if i%3 == 0 {
				sym = "ETH-USDT"
			}
			rec := trade(market.OKX, sym, i)
			if err := d.Deliver(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
			want = append(want, rec.TradeID)
			if sym == "BTC-USDT" {
				wantBTC = append(wantBTC, rec.TradeID)
			}
		}
		_ = d.Deliver(t.Context(), trade(market.Binance, "BTC-USDT", 5000)) // another exchange: "all" only
		want = append(want, "5000")
		synctest.Wait()
		if got := all.got(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("all: %d records, out of order or missing", len(got))
		}
		if got := btc.got(); strings.Join(got, ",") != strings.Join(wantBTC, ",") {
			t.Errorf("btc: got %d, want %d in order", len(got), len(wantBTC))
		}
	})
}

// A slow subscriber with the drop policy loses exactly what overflowed its
// queue; the others get everything, and delivery never waits.
func TestSlowSubscriberDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := New(nil)
		stop := start(t, d)
		defer stop()
		gate := make(chan struct{})
		var slow, fast recorder
		if _, err := d.Subscribe(Filter{}, func(rec market.Record) { <-gate; slow.add(rec) }, Options{Name: "slow", Queue: 4}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Subscribe(Filter{}, fast.add, Options{Name: "fast", Queue: 100}); err != nil {
			t.Fatal(err)
		}
		// The first record is taken by the slow goroutine (blocked in its
		// callback), the next four fill its queue, the other five are dropped.
		if err := d.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", 0)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for i := 1; i < 10; i++ {
			if err := d.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", i)); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if n := len(fast.got()); n != 10 {
			t.Errorf("fast subscriber got %d, want 10", n)
		}
		st := d.Stats()
		if st[0].Name != "slow" || st[0].Dropped != 5 || st[0].Queued != 4 {
			t.Errorf("slow stats %+v, want 5 dropped and 4 queued", st[0])
		}
		close(gate)
		synctest.Wait()
		if got := slow.got(); strings.Join(got, ",") != "0,1,2,3,4" {
			t.Errorf("slow got %v", got)
		}
	})
}

// A blocking subscriber holds delivery until it has room, and loses nothing.

func TestBlockingSubscriberBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := New(nil)
		stop := start(t, d)
		defer stop()
		gate := make(chan struct{})
		var got recorder
		if _, err := d.Subscribe(Filter{}, func(rec market.Record) { <-gate; got.add(rec) }, Options{Name: "block", Queue: 1, Policy: PolicyBlock}); err != nil {
			t.Fatal(err)
		}
		_ = d.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", 0)) // in the callback
		synctest.Wait()
		_ = d.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", 1)) // queued
		delivered := make(chan error, 1)
		go func() { delivered <- d.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", 2)) }()
		synctest.Wait()
		select {
		case err := <-delivered:
			t.Fatalf("Deliver returned (%v) while the queue was full", err)
		default:
		}
		close(gate)
		if err := <-delivered; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if ids := got.got(); strings.Join(ids, ",") != "0,1,2" {
			t.Errorf("got %v, want 0,1,2", ids)
		}
		if st := d.Stats()[0]; st.Dropped != 0 || st.Delivered != 3 {
			t.Errorf("stats %+v", st)
		}
		// A cancelled delivery returns the context's error.
		gate2 := make(chan struct{})
		d2 := New(nil)
		stop2 := start(t, d2)
		defer stop2()
		defer close(gate2)
		if _, err := d2.Subscribe(Filter{}, func(market.Record) { <-gate2 }, Options{Queue: 1, Policy: PolicyBlock}); err != nil {
			t.Fatal(err)
		}
		_ = d2.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", 0))
		synctest.Wait()
		_ = d2.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", 1))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := d2.Deliver(ctx, trade(market.OKX, "BTC-USDT", 2)); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled delivery: %v", err)
		}
	})
}

// A panicking callback is recovered and counted, its subscriber goes on,
// and the other subscribers are untouched.
func TestPanickingCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := New(nil)
		stop := start(t, d)
		defer stop()
		var ok, after recorder
		if _, err := d.Subscribe(Filter{}, func(rec market.Record) {
			if rec.(*market.Trade).TradeID == "1" {
				panic("boom")
			}
			after.add(rec)
		}, Options{Name: "panics"}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Subscribe(Filter{}, ok.add, Options{Name: "ok"}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			_ = d.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", i))
		}
		synctest.Wait()
		if got := after.got(); strings.Join(got, ",") != "0,2" {
			t.Errorf("panicking subscriber went on with %v, want 0,2", got)
		}
		if got := ok.got(); len(got) != 3 {
			t.Errorf("other subscriber got %v", got)
		}
		if st := d.Stats()[0]; st.Panics != 1 || st.Delivered != 2 {
			t.Errorf("stats %+v", st)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(NewMetrics(d))
		if n, err := testutil.GatherAndCount(reg, "etl_callback_panics_total"); err != nil || n != 2 {
			t.Errorf("metrics: %d series, %v", n, err)
		}
	})
}

// Close removes a subscriber at runtime: its callback is never called
// again, and a name can then be reused.
func TestCloseAtRuntime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := New(nil)
		stop := start(t, d)
		var got recorder
		s, err := d.Subscribe(Filter{}, got.add, Options{Name: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Subscribe(Filter{}, got.add, Options{Name: "x"}); err == nil {
			t.Error("a second subscriber named x was accepted")
		}
		_ = d.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", 0))
		synctest.Wait()
		s.Close()
		_ = d.Deliver(t.Context(), trade(market.OKX, "BTC-USDT", 1))
		synctest.Wait()
		if ids := got.got(); strings.Join(ids, ",") != "0" {
			t.Errorf("got %v after Close", ids)
		}
		if len(d.Stats()) != 0 {
			t.Errorf("stats still list %v", d.Stats())
		}
		if _, err := d.Subscribe(Filter{}, got.add, Options{Name: "x"}); err != nil {
			t.Errorf("reuse the name: %v", err)
		}
		stop()
		if _, err := d.Subscribe(Filter{}, got.add, Options{}); !errors.Is(err, ErrClosed) {
			t.Errorf("Subscribe after stop: %v", err)
		}
	})
}

func BenchmarkDeliverNoSubscriber(b *testing.B) {
	d := New(nil)
	rec := trade(market.OKX, "BTC-USDT", 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Deliver(ctx, rec)
	}
}

// Package e2e runs the whole pipeline — the real collector loop and
// exchange adapters against the simulated exchange, validation, the store
// on the real PostgreSQL and the publisher on the real Redis — and checks
// that the database and the live feed hold exactly what the exchange
// published.
package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	"marketetl/collector"
	"marketetl/config"
	"marketetl/dbtest"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/pubsub"
	"marketetl/service"
	"marketetl/sim"
	"marketetl/spec"
	"marketetl/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

// rig is one running pipeline against a simulated exchange.
type rig struct {
	t      *testing.T
	ex     market.Exchange
	sim    *sim.Sim
	pool   *pgxpool.Pool
	col    *collector.Collector
	pipe   *pipeline.Pipeline
	pub    *pubsub.Publisher
	svc    *service.Service
	prefix string

	mu   sync.Mutex
	msgs map[string][]string // channel → payloads received
}

// startRig starts the simulator, the store, the publisher, a Redis
// subscriber and one collector for ex; everything stops when the test ends.
func startRig(t *testing.T, ex market.Exchange, types []market.DataType) *rig {
	return startRigWithRedis(t, ex, types, dbtest.RedisURL())
}

// startRigWithRedis is startRig with the publisher pointed at redisURL.
func startRigWithRedis(t *testing.T, ex market.Exchange, types []market.DataType, redisURL string) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	_, pool := migratedPool(t, ctx, log)
	s, err := sim.New(sim.Config{Seed: 42}, log)
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
	r := &rig{t: t, ex: ex, sim: s, pool: pool, prefix: dbtest.Unique("e2e"), msgs: map[string][]string{}}
	cfg.RedisURL, cfg.RedisChannelPrefix = redisURL, r.prefix
	cfg.StoreFlushInterval = 10 * time.Millisecond
	cfg.SpoolDir = ""
	svc, err := service.New(cfg, pool, exchange.Registry(), service.WithLogger(log), service.WithoutSupervisor(),
		service.WithEndpoints(service.Endpoints(ep)),
		service.WithCollectorConfig(func(c *collector.Config) {
			c.BackoffMin, c.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
			c.ReconcileAfter = 10 * time.Millisecond
		}))
	if err != nil {
		t.Fatal(err)
	}
	r.pub, r.pipe, r.svc = svc.Publisher(), svc.Pipeline(), svc
	sp := spec.Collector{Name: "e2e", Exchange: ex, Symbols: s.Symbols(ex), DataTypes: types, Timeframes: []market.Timeframe{market.TF1m}}
	if !containsType(types, market.TypeCandle) {
		sp.Timeframes = nil
	}
	r.col, err = svc.Collector(sp)
	if err != nil {
		t.Fatal(err)
	}

	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(strings.TrimSuffix(dbtest.RedisURL(), "/0"), "redis://")})
	sub := rdb.PSubscribe(ctx, r.prefix+":*")
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatalf("subscribe to redis: %v", err)
	}

	// The service stops its data path after the producers.
	done := make(chan error, 1)
	go func() { // owned by the cleanup below, which waits for it
		done <- svc.RunWith(ctx, func(ctx context.Context) error {
			front, fctx := errgroup.WithContext(ctx)
			front.Go(func() error { return s.Run(fctx) })
			front.Go(func() error { return r.col.Run(fctx) })
			front.Go(func() error {
				ch := sub.Channel()
				for {
					select {
					case <-fctx.Done():
						return nil
					case m, ok := <-ch:
						if !ok {
							return nil
						}
						r.mu.Lock()
						r.msgs[m.Channel] = append(r.msgs[m.Channel], m.Payload)
						r.mu.Unlock()
					}
				}
			})
			return front.Wait()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service: %v", err)
		}
		_ = sub.Close()
		_ = rdb.Close()
		pool.Close()
	})
	for _, st := range sp.Streams() {
		if err := s.WaitSubscribed(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func containsType(ts []market.DataType, t market.DataType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds, failing the test after a generous bound.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not synchronising on time
	}
}

// exact renders d with the scale it was parsed with, as PostgreSQL's
// numeric text does.
func exact(d decimal.Decimal) string {
	if d.Exponent() < 0 {
		return d.StringFixed(-d.Exponent())
	}
	return d.String()
}

func (r *rig) count(ctx context.Context, sql string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// checkTrades asserts that the trades table holds exactly the simulator's
// trades of sym, value for value.
func (r *rig) checkTrades(ctx context.Context, sym market.Symbol) {
	r.t.Helper()
	want := r.sim.Trades(r.ex, sym)
	rows, err := r.pool.Query(ctx, `SELECT trade_id, ts, price::text, size::text, side FROM trades
		WHERE exchange = $1 AND symbol = $2 ORDER BY ts, trade_id::numeric`, string(r.ex), string(sym))
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var id, price, size, side string
		var ts time.Time
		if err := rows.Scan(&id, &ts, &price, &size, &side); err != nil {
			r.t.Fatal(err)
		}
		if i >= len(want) {
			r.t.Errorf("%s: extra trade %s in the database", sym, id)
			i++
			continue
		}
		w := want[i]
		if id != w.TradeID || !ts.Equal(w.Time) || price != exact(w.Price) || size != exact(w.Size) || side != string(w.Side) {
			r.t.Errorf("%s trade %d: db (%s %s %s %s %s), exchange (%s %s %s %s %s)", sym, i,
				id, ts.UTC().Format(time.RFC3339Nano), price, size, side,
				w.TradeID, w.Time.Format(time.RFC3339Nano), exact(w.Price), exact(w.Size), w.Side)
		}
		i++
	}
	if i != len(want) {
		r.t.Errorf("%s: %d trades in the database, the exchange published %d", sym, i, len(want))
	}
}

// checkCandles asserts that the closed 1m candles equal the exchange's.
func (r *rig) checkCandles(ctx context.Context, sym market.Symbol) {
	r.t.Helper()
	want := r.sim.ClosedCandles(r.ex, sym, market.TF1m)
	rows, err := r.pool.Query(ctx, `SELECT ts, open::text, high::text, low::text, close::text, volume::text FROM candles
		WHERE exchange = $1 AND symbol = $2 AND timeframe = '1m' AND closed ORDER BY ts`, string(r.ex), string(sym))
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var ts time.Time
		var o, h, l, c, v string
		if err := rows.Scan(&ts, &o, &h, &l, &c, &v); err != nil {
			r.t.Fatal(err)
		}
		if i < len(want) {
			w := want[i]
			got := fmt.Sprintf("%s o%s h%s l%s c%s v%s", ts.UTC().Format(time.RFC3339), dec(o), dec(h), dec(l), dec(c), dec(v))
			exp := fmt.Sprintf("%s o%s h%s l%s c%s v%s", w.Time.Format(time.RFC3339), w.Open, w.High, w.Low, w.Close, w.Volume)
			if got != exp {
				r.t.Errorf("%s candle %d:\n db       %s\n exchange %s", sym, i, got, exp)
			}
		}
		i++
	}
	if i != len(want) {
		r.t.Errorf("%s: %d closed candles in the database, the exchange closed %d", sym, i, len(want))
	}
}

// dec normalises a numeric's text for comparison with decimal.String.
func dec(s string) string { return decimal.RequireFromString(s).String() }

func TestDatabaseHoldsExactlyWhatTheExchangePublished(t *testing.T) {
	for _, ex := range market.Exchanges() {
		t.Run(string(ex), func(t *testing.T) {
			r := startRig(t, ex, []market.DataType{market.TypeTrade, market.TypeCandle, market.TypeTicker})
			ctx := t.Context()

			// 150 ticks: every market trades 150 times and closes two
			// 1-minute candles (one second of exchange time per tick).
			if err := r.sim.Step(ctx, 90); err != nil {
				t.Fatal(err)
			}
			// A forced disconnect mid-stream: the collector comes back and
			// resubscribes before the exchange trades again. Frames still in
			// flight when a connection drops are lost (gap repair is a
			// separate concern), so the drop comes once they have arrived.
			r.waitStored(ctx)
			connects := r.sim.Counts(ex).Connects
			dropped := r.sim.DropConnections(ex)
			if dropped == 0 {
				t.Fatal("no connection to drop")
			}
			if err := r.sim.WaitConnects(ctx, ex, connects+int64(dropped)); err != nil {
				t.Fatal(err)
			}
			for _, st := range r.col.Streams() {
				if err := r.sim.WaitSubscribed(ctx, st); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.sim.Step(ctx, 60); err != nil {
				t.Fatal(err)
			}

			r.waitStored(ctx)
			syms := r.sim.Symbols(ex)
			for _, sym := range syms {
				if n := len(r.sim.Trades(ex, sym)); n != 150 {
					t.Fatalf("%s: the simulator made %d trades, want 150", sym, n)
				}
				r.checkTrades(ctx, sym)
				r.checkCandles(ctx, sym)
			}
			if dup := r.count(ctx, "SELECT count(*) FROM (SELECT 1 FROM trades GROUP BY exchange, symbol, trade_id HAVING count(*) > 1) d"); dup != 0 {
				t.Errorf("%d duplicated trades", dup)
			}
			st := r.col.Status()
			if st.Reconnects < 1 {
				t.Errorf("status shows %d reconnects after a forced disconnect", st.Reconnects)
			}

			// The live feed: one message per accepted record, trades
			// byte-identical to the database.
			eventually(t, "every accepted record published", func() (bool, string) {
				ps := r.pub.Status()
				acc := r.pipe.Counts().Accepted
				return ps.Published == acc && r.received() == int(acc), fmt.Sprintf("accepted %d published %d received %d", acc, ps.Published, r.received())
			})
			for _, sym := range syms {
				r.checkTradeMessages(ctx, sym)
			}
		})
	}
}

// waitStored waits until the database holds as many trades and closed
// 1m candles as the exchange published.
func (r *rig) waitStored(ctx context.Context) {
	r.t.Helper()
	eventually(r.t, "every trade and closed candle stored", func() (bool, string) {
		var state []string
		done := true
		for _, sym := range r.sim.Symbols(r.ex) {
			nt := r.count(ctx, "SELECT count(*) FROM trades WHERE symbol = $1", string(sym))
			nc := r.count(ctx, "SELECT count(*) FROM candles WHERE symbol = $1 AND timeframe = '1m' AND closed", string(sym))
			wt, wc := len(r.sim.Trades(r.ex, sym)), len(r.sim.ClosedCandles(r.ex, sym, market.TF1m))
			state = append(state, fmt.Sprintf("%s trades %d/%d candles %d/%d", sym, nt, wt, nc, wc))
			done = done && nt == wt && nc == wc
		}
		return done, strings.Join(state, "; ")
	})
}

func (r *rig) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		n += len(m)
	}
	return n
}

// checkTradeMessages compares the trade channel of sym with the database.
func (r *rig) checkTradeMessages(ctx context.Context, sym market.Symbol) {
	r.t.Helper()
	ch := pubsub.Channel(r.prefix, market.Stream{Exchange: r.ex, Symbol: sym, Type: market.TypeTrade})
	r.mu.Lock()
	payloads := append([]string(nil), r.msgs[ch]...)
	r.mu.Unlock()
	want := r.sim.Trades(r.ex, sym)
	if len(payloads) != len(want) {
		r.t.Fatalf("%s: %d messages, %d trades", ch, len(payloads), len(want))
	}
	for i, p := range payloads {
		rec, err := pubsub.Decode([]byte(p))
		if err != nil {
			r.t.Fatalf("%s message %d: %v", ch, i, err)
		}
		tr, ok := rec.(*market.Trade)
		if !ok {
			r.t.Fatalf("%s message %d is a %T", ch, i, rec)
		}
		w := want[i]
		if tr.TradeID != w.TradeID || exact(tr.Price) != exact(w.Price) || exact(tr.Size) != exact(w.Size) || tr.Side != w.Side {
			r.t.Errorf("%s message %d: %+v, exchange %+v", ch, i, tr, w)
		}
		if !strings.Contains(p, `"`+exact(w.Price)+`"`) || !strings.Contains(p, `"`+exact(w.Size)+`"`) {
			r.t.Errorf("%s message %d does not carry the exchange's exact digits %s / %s: %s", ch, i, exact(w.Price), exact(w.Size), p)
		}
	}
}

// TestRedisDownLeavesTheDatabaseWhole runs the pipeline with Redis
// unreachable: the database still holds exactly what the exchange
// published, and every accepted record is counted as dropped.
func TestRedisDownLeavesTheDatabaseWhole(t *testing.T) {
	r := startRigWithRedis(t, market.OKX, []market.DataType{market.TypeTrade, market.TypeCandle}, "redis://127.0.0.1:1/0")
	ctx := t.Context()
	if err := r.sim.Step(ctx, 130); err != nil {
		t.Fatal(err)
	}
	r.waitStored(ctx)
	for _, sym := range r.sim.Symbols(market.OKX) {
		r.checkTrades(ctx, sym)
		r.checkCandles(ctx, sym)
	}
	eventually(t, "every accepted record counted as dropped", func() (bool, string) {
		ps, acc := r.pub.Status(), r.pipe.Counts().Accepted
		var dropped uint64
		for _, n := range ps.Dropped {
			dropped += n
		}
		return ps.Published == 0 && dropped == acc && acc > 0, fmt.Sprintf("accepted %d published %d dropped %v", acc, ps.Published, ps.Dropped)
	})
	if st := r.pub.Status(); st.Connected {
		t.Error("status says Redis is connected")
	}
}

// TestCoinbaseCandlesAreReconciledWithREST loses trades on purpose (the
// exchange stalls its pushes while trading on): the candles the collector
// builds from the trades it saw are then wrong, and reconciliation with
// the exchange's REST candles replaces them, so that the stored closed
// candles equal the exchange's.
func TestCoinbaseCandlesAreReconciledWithREST(t *testing.T) {
	r := startRig(t, market.Coinbase, []market.DataType{market.TypeTrade, market.TypeCandle})
	ctx := t.Context()
	if err := r.sim.Step(ctx, 20); err != nil {
		t.Fatal(err)
	}
	r.sim.Stall(market.Coinbase, true)
	if err := r.sim.Step(ctx, 30); err != nil {
		t.Fatal(err)
	}
	r.sim.Stall(market.Coinbase, false)
	if err := r.sim.Step(ctx, 100); err != nil {
		t.Fatal(err)
	}
	sym := market.Symbol("BTC-USD")
	want := r.sim.ClosedCandles(market.Coinbase, sym, market.TF1m)
	if len(want) < 2 {
		t.Fatalf("the exchange closed %d candles", len(want))
	}
	eventually(t, "stored candles equal the exchange's", func() (bool, string) {
		var got []string
		rows, err := r.pool.Query(ctx, `SELECT ts, open, high, low, close, volume FROM candles
			WHERE symbol = $1 AND timeframe = '1m' AND closed ORDER BY ts`, string(sym))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var ts time.Time
			var o, h, l, c, v decimal.Decimal
			if err := rows.Scan(&ts, &o, &h, &l, &c, &v); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %s %s %s %s %s", ts.UTC().Format(time.RFC3339), o, h, l, c, v))
		}
		var exp []string
		for _, w := range want {
			exp = append(exp, fmt.Sprintf("%s %s %s %s %s %s", w.Time.Format(time.RFC3339), w.Open, w.High, w.Low, w.Close, w.Volume))
		}
		return strings.Join(got, "\n") == strings.Join(exp, "\n"), fmt.Sprintf("\n db:       %v\n exchange: %v", got, exp)
	})
	if st := r.col.Status(); st.Reconciled["corrected"] < 1 {
		t.Errorf("reconciliation outcomes %v: want at least one corrected candle", st.Reconciled)
	}
}

// migratedPool creates a migrated database for the test and returns its
// URL and a pool on it; the caller closes the pool.
func migratedPool(t *testing.T, ctx context.Context, log *zap.Logger) (string, *pgxpool.Pool) {
	t.Helper()
	dbURL := dbtest.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL, log); err != nil {
		t.Fatal(err)
	}
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return dbURL, pool
}

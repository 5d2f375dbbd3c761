package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// bookRig is the service collecting one symbol's order book (and its
// trades) from the simulated exchange into PostgreSQL, with every book
// message stored as a snapshot row, and the simulator's book recorded
// after every tick. The gap filler records the gaps (an order book gap
// is kept as unfillable: there is no REST history of books).
type bookRig struct {
	t    *testing.T
	ctx  context.Context
	ex   market.Exchange
	sym  market.Symbol
	sim  *sim.Sim
	rig  *rig
	col  *collector.Collector
	want map[int64]string     // the simulator's top levels by update id (OKX, Binance)
	byTS map[time.Time]string // by exchange time (Coinbase)
	all  map[string]bool      // every book recorded
	// full holds the simulator's whole book by the exchange time of its
	// update (the last one of that time), ticks the times in order.
	full  map[time.Time][2][]market.Level
	ticks []time.Time
	depth int // levels per side stored
}

const bookDepth = 25

func startBookRig(t *testing.T, ex market.Exchange) *bookRig {
	t.Helper()
	return startBookRigWith(t, ex, bookRigOptions{})
}

// bookRigOptions vary the book rig.
type bookRigOptions struct {
	// keys: the collector names credentials (the simulator's key), so
	// that Coinbase books use the authenticated level2 channel.
	keys bool
	// updates stores every level change (book_updates: true).
	updates bool
	// interval is the snapshot interval; 0: a snapshot per message.
	interval time.Duration
	// depth is book_depth; 0: bookDepth.
	depth int
	// live starts the exchange's time at the wall clock, so that every
	// tick's time is the wall clock's (the default starts it 6 hours
	// back): an exchange message then carries about the time it is
	// received at, as on the real exchanges.
	live bool
}

func startBookRigWith(t *testing.T, ex market.Exchange, o bookRigOptions) *bookRig {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	_, pool := migratedPool(t, ctx, log)
	simCfg := sim.Config{Seed: 42}
	if o.live {
		simCfg.Start = time.Now()
	}
	s, err := sim.New(simCfg, log)
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
	cfg.RedisEnabled = false
	cfg.StoreFlushInterval = 10 * time.Millisecond
	cfg.SpoolDir = ""
	key := sim.DemoAPIKey(ex)
	env := map[string]string{"SIM_BOOKS_API_KEY": key.Key, "SIM_BOOKS_API_SECRET": key.Secret, "SIM_BOOKS_API_PASSPHRASE": key.Passphrase}
	svc, err := service.New(cfg, pool, exchange.Registry(), service.WithLogger(log), service.WithoutSupervisor(),
		service.WithEndpoints(service.Endpoints(ep)),
		service.WithCredentialsLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
		service.WithCollectorConfig(func(c *collector.Config) {
			c.BackoffMin, c.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
			// Every book message makes a row, so that every row can be
			// compared with the simulator's book at its update.
			c.Books.Interval = time.Nanosecond
			if o.interval > 0 {
				c.Books.Interval = o.interval
			}
			c.Books.DriftCheck, c.Books.DriftSettle = 20*time.Millisecond, 100*time.Millisecond
		}))
	if err != nil {
		t.Fatal(err)
	}
	sym := s.Symbols(ex)[0]
	depth := bookDepth
	if o.depth > 0 {
		depth = o.depth
	}
	sp := spec.Collector{Name: "books", Exchange: ex, Symbols: []market.Symbol{sym},
		DataTypes: []market.DataType{market.TypeTrade, market.TypeOrderBook}, BookDepth: depth, BookUpdates: o.updates}
	if o.keys {
		sp.Credentials = "sim_books"
	}
	if err := sp.Validate(); err != nil {
		t.Fatal(err)
	}
	col, err := svc.Collector(sp)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { // owned by the cleanup below, which waits for it
		done <- svc.RunWith(ctx, func(ctx context.Context) error {
			front, fctx := errgroup.WithContext(ctx)
			front.Go(func() error { return s.Run(fctx) })
			front.Go(func() error { return col.Run(fctx) })
			return front.Wait()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service: %v", err)
		}
		pool.Close()
	})
	for _, st := range sp.Streams() {
		if err := s.WaitSubscribed(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	b := &bookRig{t: t, ctx: ctx, ex: ex, sym: sym, sim: s, col: col, rig: &rig{t: t, ex: ex, sim: s, pool: pool},
		want: map[int64]string{}, byTS: map[time.Time]string{}, all: map[string]bool{}, full: map[time.Time][2][]market.Level{}, depth: depth}
	if _, _, _, _, ok := s.Book(ex, sym); ok {
		b.record() // the book of the first snapshot
	}
	return b
}

// levelsText renders levels as PostgreSQL writes a two-dimensional numeric
// array: {{price,size},...}, exact decimals.
func levelsText(ls []market.Level) string {
	if len(ls) == 0 {
		return "{}"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = "{" + exact(l.Price) + "," + exact(l.Size) + "}"
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// step ticks the exchange n times, recording its book after each tick.
func (b *bookRig) step(n int) {
	b.t.Helper()
	for range n {
		if err := b.sim.Step(b.ctx, 1); err != nil {
			b.t.Fatal(err)
		}
		b.record()
	}
}

// record notes the simulator's current book.
func (b *bookRig) record() {
	b.t.Helper()
	bids, asks, id, at, ok := b.sim.Book(b.ex, b.sym)
	if !ok {
		b.t.Fatal("the simulator has no book")
	}
	book := levelsText(bids[:min(b.depth, len(bids))]) + " " + levelsText(asks[:min(b.depth, len(asks))])
	b.want[id], b.byTS[at.UTC()], b.all[book] = book, book, true
	if _, seen := b.full[at.UTC()]; !seen {
		b.ticks = append(b.ticks, at.UTC())
	}
	b.full[at.UTC()] = [2][]market.Level{bids, asks}
}

// caughtUp waits until the database holds a snapshot of the simulator's
// current book.
func (b *bookRig) caughtUp(what string) {
	b.t.Helper()
	bids, asks, id, _, _ := b.sim.Book(b.ex, b.sym)
	book := levelsText(bids[:min(b.depth, len(bids))]) + " " + levelsText(asks[:min(b.depth, len(asks))])
	eventually(b.t, what, func() (bool, string) {
		var last string
		q := `SELECT bids::text || ' ' || asks::text FROM book_snapshots WHERE exchange = $1 AND symbol = $2 ORDER BY received_at DESC, ts DESC LIMIT 1`
		if b.ex != market.Coinbase {
			q = `SELECT bids::text || ' ' || asks::text FROM book_snapshots WHERE exchange = $1 AND symbol = $2 AND sequence = ` + fmt.Sprint(id)
		}
		if err := b.rig.pool.QueryRow(b.ctx, q, b.ex, b.sym).Scan(&last); err != nil {
			return false, err.Error()
		}
		return last == book, last
	})
}

// checkRows compares every stored snapshot with the simulator's book at
// its update (by update id; for Coinbase, which numbers nothing, by its
// exchange time, and a snapshot taken at a resubscription, stamped when
// it was received, with one of the books the simulator had). A Coinbase
// snapshot inside a book_resync gap is not compared: a dropped change is
// found only by the next drift check, and the gap declares the book
// unknown from the last verified book on.
func (b *bookRig) checkRows() int {
	b.t.Helper()
	var windows [][2]time.Time
	gr, err := b.rig.pool.Query(b.ctx, `SELECT from_ts, to_ts FROM gaps WHERE exchange = $1 AND symbol = $2 AND reason = 'book_resync'`, b.ex, b.sym)
	if err != nil {
		b.t.Fatal(err)
	}
	for gr.Next() {
		var w [2]time.Time
		if err := gr.Scan(&w[0], &w[1]); err != nil {
			b.t.Fatal(err)
		}
		windows = append(windows, w)
	}
	gr.Close()
	b.t.Logf("book_resync gaps: %v", windows)
	inGap := func(ts time.Time) bool {
		for _, w := range windows {
			if ts.After(w[0]) && ts.Before(w[1]) {
				return true
			}
		}
		return false
	}
	rows, err := b.rig.pool.Query(b.ctx, `SELECT ts, sequence, depth, bids::text || ' ' || asks::text FROM book_snapshots
		WHERE exchange = $1 AND symbol = $2 ORDER BY ts, sequence`, b.ex, b.sym)
	if err != nil {
		b.t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var ts time.Time
		var seq int64
		var depth int
		var got string
		if err := rows.Scan(&ts, &seq, &depth, &got); err != nil {
			b.t.Fatal(err)
		}
		n++
		if depth != b.depth {
			b.t.Errorf("row at %s seq %d: depth %d, want %d", ts, seq, depth, b.depth)
		}
		var want string
		var ok bool
		if b.ex == market.Coinbase {
			if inGap(ts) {
				continue
			}
			if want, ok = b.byTS[ts.UTC()]; !ok {
				if !b.all[got] {
					b.t.Errorf("row at %s (a resubscription's snapshot) is none of the simulator's books: %s", ts, got)
				}
				continue
			}
		} else if want, ok = b.want[seq]; !ok {
			// The book before the first recorded tick (the initial
			// snapshot) is checked by the rows after it.
			continue
		}
		if got != want {
			b.t.Errorf("row at %s seq %d:\n got %s\nwant %s", ts, seq, got, want)
		}
	}
	if err := rows.Err(); err != nil {
		b.t.Fatal(err)
	}
	return n
}

// resyncGaps returns the stored book_resync gaps of the book stream.
func (b *bookRig) resyncGaps() int {
	return b.rig.count(b.ctx, `SELECT count(*) FROM gaps WHERE exchange = $1 AND symbol = $2 AND data_type = 'orderbook' AND reason = 'book_resync' AND to_ts >= from_ts`, b.ex, b.sym)
}

// TestStoredBooksAreExact runs each exchange's book through the whole
// service into PostgreSQL while the simulated exchange injects every book
// fault it has and then drops the connection: every stored snapshot equals
// the simulator's book at its update, level for level, and every resync
// is exactly one book_resync gap row. Coinbase runs twice: on level2_batch
// without API keys, and on the authenticated level2 channel with them.
func TestStoredBooksAreExact(t *testing.T) {
	tests := []struct {
		ex     market.Exchange
		keys   bool
		faults []func(*sim.Sim, market.Symbol) error
	}{
		{market.OKX, false, []func(*sim.Sim, market.Symbol) error{
			func(s *sim.Sim, sym market.Symbol) error { return s.InjectBookSequenceBreak(market.OKX, sym) },
			func(s *sim.Sim, sym market.Symbol) error { return s.InjectBookChecksumMismatch(sym) },
			func(s *sim.Sim, sym market.Symbol) error { return s.InjectCrossedBookUpdate(market.OKX, sym) },
		}},
		{market.Binance, false, []func(*sim.Sim, market.Symbol) error{
			func(s *sim.Sim, sym market.Symbol) error { return s.InjectBookSequenceBreak(market.Binance, sym) },
			func(s *sim.Sim, sym market.Symbol) error { return s.InjectCrossedBookUpdate(market.Binance, sym) },
		}},
		{market.Coinbase, false, []func(*sim.Sim, market.Symbol) error{
			func(s *sim.Sim, sym market.Symbol) error { return s.InjectDroppedBookChange(sym) },
			func(s *sim.Sim, sym market.Symbol) error { return s.InjectCrossedBookUpdate(market.Coinbase, sym) },
		}},
		// With API keys: the authenticated level2 channel.
		{market.Coinbase, true, []func(*sim.Sim, market.Symbol) error{
			func(s *sim.Sim, sym market.Symbol) error { return s.InjectDroppedBookChange(sym) },
			func(s *sim.Sim, sym market.Symbol) error { return s.InjectCrossedBookUpdate(market.Coinbase, sym) },
		}},
	}
	for _, tc := range tests {
		name := string(tc.ex)
		if tc.keys {
			name += " level2"
		}
		t.Run(name, func(t *testing.T) {
			b := startBookRigWith(t, tc.ex, bookRigOptions{keys: tc.keys})
			if tc.ex == market.Coinbase {
				want := []string{"level2_batch"}
				if tc.keys {
					want = []string{"level2"}
				}
				if got := b.sim.CoinbaseBookChannels(b.sym); !slices.Equal(got, want) {
					t.Fatalf("book channels %v, want %v", got, want)
				}
			}
			b.step(5)
			b.caughtUp("the first book")
			for i, inject := range tc.faults {
				if err := inject(b.sim, b.sym); err != nil {
					t.Fatal(err)
				}
				b.step(5)
				b.caughtUp(fmt.Sprintf("the book after fault %d", i+1))
				eventually(t, "the resync's gap row", func() (bool, string) {
					n := b.resyncGaps()
					return n == i+1, fmt.Sprintf("%d gaps", n)
				})
			}
			if n := b.sim.DropConnections(tc.ex); n != 1 {
				t.Fatalf("dropped %d connections, want 1", n)
			}
			if err := b.sim.WaitConnects(b.ctx, tc.ex, 2); err != nil {
				t.Fatal(err)
			}
			if err := b.sim.WaitSubscribed(b.ctx, market.Stream{Exchange: tc.ex, Symbol: b.sym, Type: market.TypeOrderBook}); err != nil {
				t.Fatal(err)
			}
			b.step(5)
			b.caughtUp("the book after the reconnect")
			want := len(tc.faults) + 1
			eventually(t, "the reconnect's gap row", func() (bool, string) {
				n := b.resyncGaps()
				return n == want, fmt.Sprintf("%d gaps", n)
			})
			if n := b.checkRows(); n <= want {
				t.Errorf("%d snapshot rows, want more than the %d resyncs", n, want)
			}
			if n := b.rig.count(b.ctx, `SELECT count(*) FROM gaps WHERE exchange = $1 AND data_type = 'orderbook'`, tc.ex); n != want {
				t.Errorf("%d order book gaps, want %d (all book_resync)", n, want)
			}
			if n := b.rig.count(b.ctx, `SELECT count(*) FROM rejects WHERE exchange = $1 AND reason = 'crossed_book'`, tc.ex); n != 1 {
				t.Errorf("%d crossed_book rejects, want 1", n)
			}
		})
	}
}

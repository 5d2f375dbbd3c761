package collector_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/collector/coinbase"
	"marketetl/collector/okx"
	"marketetl/market"
	"marketetl/sim"
)

// bookSink keeps the book snapshots, rejects and gaps a collector hands on.
type bookSink struct {
	mu      sync.Mutex
	snaps   []*market.BookSnapshot
	rejects []market.Reject
	gaps    []market.Gap
}

func (b *bookSink) Accept(_ context.Context, rec market.Record) error {
	if s, ok := rec.(*market.BookSnapshot); ok {
		b.mu.Lock()
		b.snaps = append(b.snaps, s)
		b.mu.Unlock()
	}
	return nil
}

func (b *bookSink) Reject(_ context.Context, r market.Reject) error {
	b.mu.Lock()
	b.rejects = append(b.rejects, r)
	b.mu.Unlock()
	return nil
}

func (b *bookSink) RecordGap(g market.Gap) {
	b.mu.Lock()
	b.gaps = append(b.gaps, g)
	b.mu.Unlock()
}

// TestSimulatedOKXBook runs the OKX adapter under the loop against the
// simulated exchange's books channel: every snapshot handed on equals the
// simulator's book at its sequence, level for level, and each fault (a
// sequence break, a wrong checksum, a crossed update, a dropped
// connection) costs exactly one resync, recorded as one book_resync gap.
func TestSimulatedOKXBook(t *testing.T) {
	simulatedBook(t, market.OKX, "BTC-USDT", func(ep sim.Endpoints) (collector.Protocol, error) {
		return okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST})
	}, []bookFault{
		{"sequence break", func(s *sim.Sim) error { return s.InjectBookSequenceBreak(market.OKX, "BTC-USDT") }},
		{"checksum mismatch", func(s *sim.Sim) error { return s.InjectBookChecksumMismatch("BTC-USDT") }},
		{"crossed update", func(s *sim.Sim) error { return s.InjectCrossedBookUpdate(market.OKX, "BTC-USDT") }},
		{"checksum deprecated", func(s *sim.Sim) error { s.SetOKXChecksumDeprecated(true); return nil }},
	}, map[string]uint64{"sequence_break": 1, "checksum_mismatch": 1, "invalid_book": 1, "reconnect": 1})
}

// TestSimulatedBinanceBook does the same for Binance's diff depth stream
// and its REST snapshot: the documented procedure joins them, and a
// sequence break, a crossed update and a dropped connection each cost
// one new snapshot and one book_resync gap.
func TestSimulatedBinanceBook(t *testing.T) {
	simulatedBook(t, market.Binance, "BTC-USDT", func(ep sim.Endpoints) (collector.Protocol, error) {
		return binance.New(binance.Config{WSURL: ep.BinanceWS, RESTURL: ep.BinanceREST})
	}, []bookFault{
		{"sequence break", func(s *sim.Sim) error { return s.InjectBookSequenceBreak(market.Binance, "BTC-USDT") }},
		{"crossed update", func(s *sim.Sim) error { return s.InjectCrossedBookUpdate(market.Binance, "BTC-USDT") }},
	}, map[string]uint64{"sequence_break": 1, "invalid_book": 1, "reconnect": 1})
}

// TestSimulatedCoinbaseBook does the same for Coinbase's level2_batch:
// a change left out of an l2update (found by the drift check against the
// REST book), a crossed update and a dropped connection each cost one
// resubscription and one book_resync gap.
func TestSimulatedCoinbaseBook(t *testing.T) {
	simulatedBook(t, market.Coinbase, "BTC-USD", func(ep sim.Endpoints) (collector.Protocol, error) {
		return coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST})
	}, []bookFault{
		{"dropped change", func(s *sim.Sim) error { return s.InjectDroppedBookChange("BTC-USD") }},
		{"crossed update", func(s *sim.Sim) error { return s.InjectCrossedBookUpdate(market.Coinbase, "BTC-USD") }},
	}, map[string]uint64{"drift": 1, "invalid_book": 1, "reconnect": 1})
}

// bookFault is one fault injected into the simulated exchange's book.
type bookFault struct {
	name   string
	inject func(*sim.Sim) error
}

// simulatedBook runs ex's adapter against the simulator, injects each
// fault in turn and then drops the connection, and checks after each that
// the latest snapshot equals the simulator's book at its sequence and
// that one more book_resync gap was recorded for a fault that breaks the
// book (the deprecated OKX checksum breaks nothing). resyncs are the
// expected counts by reason.
func simulatedBook(t *testing.T, ex market.Exchange, sym market.Symbol, newProto func(sim.Endpoints) (collector.Protocol, error), faults []bookFault, resyncs map[string]uint64) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	s, ep := listenSim(t, ctx, sim.Config{Seed: 5, Start: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, log)
	proto, err := newProto(ep)
	if err != nil {
		t.Fatal(err)
	}
	const depth = 25
	books := market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeOrderBook}
	got := &bookSink{}
	col, err := collector.New(collector.Config{Name: "books", Streams: []market.Stream{books}, Log: log, Gaps: got,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		// Drift checks often, settling long enough for the simulator's
		// frames sent before its REST answer to have arrived.
		Books: collector.BookConfig{Depth: depth, Interval: time.Nanosecond, DriftCheck: 20 * time.Millisecond, DriftSettle: 100 * time.Millisecond}}, proto, got)
	if err != nil {
		t.Fatal(err)
	}
	defer runWithSim(t, ctx, cancel, s, col)()
	if err := s.WaitSubscribed(ctx, books); err != nil {
		t.Fatal(err)
	}
	// caughtUp waits for a snapshot at the simulator's current sequence and
	// checks it level for level.
	caughtUp := func(what string) {
		t.Helper()
		bids, asks, lastID, _, ok := s.Book(ex, sym)
		if !ok {
			t.Fatalf("%s: the simulator has no book", what)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			got.mu.Lock()
			var last *market.BookSnapshot
			if n := len(got.snaps); n > 0 {
				last = got.snaps[n-1]
			}
			got.mu.Unlock()
			d := "no snapshot"
			if last != nil {
				d = diffLevels(last.Bids, bids[:min(depth, len(bids))]) + diffLevels(last.Asks, asks[:min(depth, len(asks))])
			}
			switch {
			case ex == market.Coinbase && d == "":
				// Coinbase numbers nothing: the book is caught up when it
				// is the simulator's.
				return
			case ex != market.Coinbase && last != nil && last.Sequence == lastID:
				if d != "" {
					t.Fatalf("%s: stored book differs from the simulator's at %d: %s", what, lastID, d)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out waiting for a snapshot at sequence %d (%s)", what, lastID, d)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
		}
	}
	step := func(n int) {
		t.Helper()
		if err := s.Step(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	gaps := func() int {
		got.mu.Lock()
		defer got.mu.Unlock()
		return len(got.gaps)
	}
	step(3)
	caughtUp("start")
	if n := gaps(); n != 0 {
		t.Fatalf("%d gaps before any fault", n)
	}
	want := 0
	for _, f := range faults {
		if err := f.inject(s); err != nil {
			t.Fatal(err)
		}
		step(3)
		caughtUp("after " + f.name)
		if f.name != "checksum deprecated" {
			want++
		}
		if n := gaps(); n != want {
			got.mu.Lock()
			for _, sn := range got.snaps {
				t.Logf("snap seq %d", sn.Sequence)
			}
			got.mu.Unlock()
			t.Logf("status %+v", col.BookStatus())
			t.Fatalf("after %s: %d gaps, want %d", f.name, n, want)
		}
	}
	if n := s.DropConnections(ex); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	if err := s.WaitConnects(ctx, ex, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSubscribed(ctx, books); err != nil {
		t.Fatal(err)
	}
	step(3)
	caughtUp("after a reconnect")
	want++
	if n := gaps(); n != want {
		t.Fatalf("after a reconnect: %d gaps, want %d", n, want)
	}

	got.mu.Lock()
	defer got.mu.Unlock()
	for _, gp := range got.gaps {
		if gp.Reason != market.GapBookResync || gp.Stream != books || gp.To.Before(gp.From) {
			t.Errorf("gap %s, want a book_resync gap of %s", gp, books)
		}
	}
	if len(got.rejects) != 1 || got.rejects[0].Reason != "crossed_book" {
		t.Errorf("rejects %+v, want one crossed_book", got.rejects)
	}
	ss := col.Status().Streams[books.String()]
	if ss.Book == nil || ss.Records == 0 {
		t.Fatalf("stream status %+v lacks the book", ss)
	}
	st := *ss.Book
	if len(st.Resyncs) != len(resyncs) || st.SequenceBreaks != resyncs["sequence_break"] || st.ChecksumFailures != resyncs["checksum_mismatch"] {
		t.Errorf("book status %+v, want resyncs %v", st, resyncs)
	}
	for r, n := range resyncs {
		if st.Resyncs[r] != n {
			t.Errorf("resyncs[%s] = %d, want %d", r, st.Resyncs[r], n)
		}
	}
}

func diffLevels(got, want []market.Level) string {
	if len(got) != len(want) {
		return "levels: got " + itoa(len(got)) + ", want " + itoa(len(want))
	}
	for i := range got {
		if !got[i].Price.Equal(want[i].Price) || got[i].Price.String() != want[i].Price.String() || got[i].Size.String() != want[i].Size.String() {
			return "level " + itoa(i) + ": got " + got[i].Price.String() + "x" + got[i].Size.String() + ", want " + want[i].Price.String() + "x" + want[i].Size.String()
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

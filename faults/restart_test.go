package faults

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/sim"
	"marketetl/spool"
)

// procRig is the etl binary (`etl run`) against the simulated exchange,
// PostgreSQL behind a relay of the test, and a subscriber of its live
// feed. The exchange serves no REST history at all (its history horizon
// is far in the future): nothing the process loses can be repaired by the
// backfill, so what the database holds is what the process kept. The
// collectors take trades only: the promise is checked trade by trade, by
// trade id.
type procRig struct {
	*rig
	bin      string
	env      []string
	spoolDir string
	pgRelay  *dbtest.Relay
	live     *liveFeed
}

// newProcRig builds the binary, the database, the exchange and the live
// feed's subscriber; extra environment settings override the defaults.
func newProcRig(t *testing.T, s *scenario, extra ...string) *procRig {
	bin := buildETL(t)
	r, dbURL, ep := externalRig(t, int64(s.res.Number), func(sm *sim.Sim) {
		// No history is served: what the process lost cannot be repaired.
		never := sm.Now().Add(100 * 365 * 24 * time.Hour)
		for _, ex := range market.Exchanges() {
			sm.SetHistoryHorizon(ex, never)
		}
	})
	u, _ := url.Parse(dbURL)
	relay := dbtest.NewRelay(t, u.Host)
	exs, sm := r.opts.exchanges, r.sim
	s.watch(r)

	dir := t.TempDir()
	var yaml strings.Builder
	yaml.WriteString("collectors:\n")
	for _, ex := range exs {
		var syms []string
		for _, sym := range sm.Symbols(ex) {
			syms = append(syms, string(sym))
			r.streams = append(r.streams, market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade})
		}
		fmt.Fprintf(&yaml, "  - name: %s-faults\n    exchange: %s\n    symbols: [%s]\n    data_types: [trade]\n",
			ex, ex, strings.Join(syms, ", "))
	}
	cfgPath := filepath.Join(dir, "collectors.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	prefix := dbtest.Unique("faults")
	p := &procRig{rig: r, bin: bin, spoolDir: filepath.Join(dir, "spool"), pgRelay: relay}
	p.env = append(os.Environ(),
		"DATABASE_URL="+viaRelay(t, dbURL, relay.Addr()), "REDIS_URL="+dbtest.RedisURL(), "REDIS_CHANNEL_PREFIX="+prefix,
		"ETL_CONFIG="+cfgPath, "ETL_ADMIN_ADDR=", "LOG_LEVEL=error", "LOG_FORMAT=json",
		"SPOOL_DIR="+p.spoolDir, "STORE_FLUSH_INTERVAL=20ms",
		"RECONNECT_DELAY=100ms", "RECONNECT_DELAY_MAX=1s",
		"OKX_WS_PUBLIC_URL="+ep.OKXPublicWS, "OKX_WS_BUSINESS_URL="+ep.OKXBusinessWS, "OKX_REST_URL="+ep.OKXREST,
		"BINANCE_WS_URL="+ep.BinanceWS, "BINANCE_REST_URL="+ep.BinanceREST,
		"COINBASE_WS_URL="+ep.CoinbaseWS, "COINBASE_REST_URL="+ep.CoinbaseREST,
		"KRAKEN_WS_URL="+ep.KrakenWS, "KRAKEN_REST_URL="+ep.KrakenREST,
	)
	p.env = append(p.env, extra...)
	p.live = subscribeLive(t, prefix)
	return p
}

// start starts `etl run`, with extra settings overriding the rig's, and
// waits until the exchange sees every stream subscribed.
func (p *procRig) start(extra ...string) *etlProcess {
	p.t.Helper()
	e := startETL(p.t, p.bin, append(slices.Clone(p.env), extra...))
	p.waitSubscribed()
	return e
}

// waitAccepted waits until the live feed has carried every trade the
// exchange published: a record is published only once the store has
// admitted it, so each of them is then the process's to keep. (The live
// feed may carry a trade twice: Coinbase repeats its last match to a new
// subscription, which the database stores once.)
func (p *procRig) waitAccepted() int {
	p.t.Helper()
	total := 0
	eventually(p.t, "every trade published by the exchange to be on the live feed", func() (bool, string) {
		ok, state := true, ""
		total = 0
		for _, st := range p.streams {
			want := len(p.sim.Trades(st.Exchange, st.Symbol))
			got := p.live.count(string(st.Exchange) + ":trade:" + string(st.Symbol))
			ok = ok && got >= want
			total += want
			state += fmt.Sprintf("%s %s %d/%d; ", st.Exchange, st.Symbol, got, want)
		}
		return ok, state
	})
	return total
}

// trades are the exchange's trades, each as the line verifyTrades
// compares, keyed by "exchange symbol trade_id".
func (p *procRig) trades() map[string]string {
	out := map[string]string{}
	for _, st := range p.streams {
		for _, tr := range p.sim.Trades(st.Exchange, st.Symbol) {
			out[fmt.Sprintf("%s %s %s", st.Exchange, st.Symbol, tr.TradeID)] = fmt.Sprintf("%s %s %s %s %s %s %s", st.Exchange, st.Symbol,
				tr.TradeID, tr.Time.UTC().Format("2006-01-02T15:04:05.000"), tr.Price.String(), tr.Size.String(), tr.Side)
		}
	}
	return out
}

// verifyTrades asserts that the database holds exactly the exchange's
// trades whose keys keep accepts (nil: all of them), value for value.
func (p *procRig) verifyTrades(keep func(key string) bool) (want int) {
	p.t.Helper()
	var lines []string
	for k, line := range p.trades() {
		if keep == nil || keep(k) {
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	got := p.strings(`SELECT exchange || ' ' || symbol || ' ' || trade_id || ' ' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || ' ' ||
		trim_scale(price)::text || ' ' || trim_scale(size)::text || ' ' || side FROM trades ORDER BY 1`)
	sort.Strings(got)
	diff(p.t, "trades (exchange symbol id time price size side)", lines, got)
	return len(lines)
}

// storedKeys returns the keys ("exchange symbol trade_id") of the stored
// trades.
func (p *procRig) storedKeys() map[string]bool {
	out := map[string]bool{}
	for _, k := range p.strings(`SELECT exchange || ' ' || symbol || ' ' || trade_id FROM trades`) {
		out[k] = true
	}
	return out
}

// spoolBytes is the size of the spool's segment files on disk.
func (p *procRig) spoolBytes() int64 {
	p.t.Helper()
	var n int64
	err := filepath.WalkDir(p.spoolDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".spool") {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

// finishTrades records the counts of a trades-only scenario.
func (p *procRig) finishTrades(s *scenario, want int) {
	s.res.Published = len(p.trades())
	s.res.Stored = p.queryInt(`SELECT count(*) FROM trades`)
	s.res.Duplicates = p.duplicates()
	s.res.GapsOpen = p.gapsOpen()
	if s.res.Duplicates != 0 {
		s.t.Errorf("%d duplicated keys", s.res.Duplicates)
	}
	if s.res.Stored != want {
		s.t.Errorf("stored %d trades, want %d", s.res.Stored, want)
	}
}

// Scenario 13: SIGTERM while the exchange trades, twice. Every trade the
// process accepted (published on the live feed, so admitted by the store)
// is still in the writer's memory when the signal comes (flushes are due
// only after an hour), and the exchange serves no history: only the
// shutdown's drain can keep them. The first time the database is
// reachable: the process exits 0 with each of them committed. The second
// time it is not: the drain gives up at the shutdown deadline and spills
// them to the spool, and the next start replays them. Each start resumes
// every stream from its last stored trade with no gap.
func TestSIGTERMUnderLoad(t *testing.T) {
	s := newScenario(t, 13)
	if !*longFlag {
		s.skip("takes minutes: run with -long (make faults)")
	}
	p := newProcRig(t, s, "STORE_FLUSH_INTERVAL=1h", "STORE_BATCH_SIZE=1000000", "SHUTDOWN_TIMEOUT=5s",
		"COLLECTOR_STOP_TIMEOUT=1s", "DATABASE_WAIT=2m")
	sigterm := func(e *etlProcess) {
		t.Helper()
		if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := e.wait(t); err != nil {
			t.Fatalf("etl after SIGTERM: %v; output:\n%s", err, e.out.String())
		}
	}
	e := p.start()
	p.step(150)
	accepted := p.waitAccepted()
	if n := p.queryInt(`SELECT count(*) FROM trades`); n != 0 {
		t.Fatalf("%d trades stored before SIGTERM; want them all still in the writer's memory", n)
	}
	sigterm(e)
	if n, b := p.queryInt(`SELECT count(*) FROM trades`), p.spoolBytes(); n != accepted || b != 0 {
		t.Fatalf("SIGTERM with the database up: %d of %d accepted trades committed, %d bytes spooled; want all committed", n, accepted, b)
	}
	// The next start goes on from the last stored trade of each stream;
	// the database becomes unreachable before its SIGTERM.
	e = p.start()
	p.step(100)
	accepted2 := p.waitAccepted()
	if n := p.queryInt(`SELECT count(*) FROM trades`); n != accepted {
		t.Fatalf("%d trades stored before the second SIGTERM, want the %d of the first process", n, accepted)
	}
	if n := p.queryInt(`SELECT count(*) FROM gaps`); n != 0 {
		t.Fatalf("%d gaps recorded after the first restart; want none:\n%s", n, strings.Join(p.gapRows(), "\n"))
	}
	p.pgRelay.SetDown(true)
	sigterm(e)
	spilled := p.spoolBytes()
	if spilled == 0 {
		t.Fatal("SIGTERM with the database down: nothing spilled to the spool")
	}
	p.pgRelay.SetDown(false)

	// The third start replays the spool, flushing as usual (a replayed
	// segment is deleted once its rows are committed); the exchange
	// trades on.
	back := time.Now()
	e = p.start("STORE_FLUSH_INTERVAL=25ms")
	eventually(t, "the spool replayed", func() (bool, string) {
		n, b := p.queryInt(`SELECT count(*) FROM trades`), p.spoolBytes()
		return n == accepted2 && b == 0, fmt.Sprintf("%d of %d trades, %d spool bytes", n, accepted2, b)
	})
	s.res.Recovery = time.Since(back)
	p.step(50)
	p.waitAccepted()
	sigterm(e)
	want := p.verifyTrades(nil)
	p.finishTrades(s, want)
	if b := p.spoolBytes(); b != 0 {
		t.Errorf("%d bytes left in the spool", b)
	}
	// Nothing is missing, and the third start's collectors read where the
	// stored data ends only once the spool the second left is replayed:
	// no gap at all (read before the replay, the spilled window would be
	// restart gaps, which the backfill, with no history served, would
	// mark unfillable although nothing is missing).
	for _, g := range p.strings(`SELECT concat_ws(' ', exchange, symbol, after_trade_id, reason, data_type, status) FROM gaps`) {
		t.Errorf("gap %q: want none", g)
	}
	s.res.Note = fmt.Sprintf("no history served, every accepted trade in the writer's memory at each SIGTERM: %d committed by the first shutdown's flush; %d spilled to the spool (%d bytes) by the second, the database down, and replayed by the next start before its collectors resumed (no gap)",
		accepted, accepted2-accepted, spilled)
	t.Log(s.res.Note)
}

// Scenario 14: SIGKILL while the database is unreachable, with records in
// the spool. The exchange serves no history: the trades the process held
// in memory are lost with it (and only they), the spooled ones are
// replayed by the next start. The database then holds exactly the trades
// stored before the kill and those the spool held, value for value.
func TestSIGKILLUnderLoadThenRestart(t *testing.T) {
	s := newScenario(t, 14)
	if !*longFlag {
		s.skip("takes minutes: run with -long (make faults)")
	}
	p := newProcRig(t, s, "STORE_QUEUE_SIZE=100", "SPOOL_AFTER=0", "SPOOL_FSYNC=always", "DATABASE_WAIT=2m")
	e := p.start()
	p.step(20)
	before := p.waitAccepted()
	eventually(t, "the first trades stored", func() (bool, string) {
		n := p.queryInt(`SELECT count(*) FROM trades`)
		return n == before, itoa(n) + " of " + itoa(before)
	})
	p.pgRelay.SetDown(true)
	p.step(300) // far more than the writer's queues hold
	accepted := p.waitAccepted()
	eventually(t, "records in the spool", func() (bool, string) {
		b := p.spoolBytes()
		return b > 0, itoa(int(b)) + " bytes"
	})
	if err := e.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = e.wait(t)
	stored := p.storedKeys()
	spooled := p.spooledTrades()
	if len(spooled) == 0 {
		t.Fatal("the spool held no trade at the kill")
	}
	spoolBytes := p.spoolBytes()

	p.pgRelay.SetDown(false)
	start := time.Now()
	e2 := p.start()
	keep := func(k string) bool { return stored[k] || spooled[k] }
	wantN := 0
	for k := range p.trades() {
		if keep(k) {
			wantN++
		}
	}
	eventually(t, "the spool replayed", func() (bool, string) {
		n, b := p.queryInt(`SELECT count(*) FROM trades`), p.spoolBytes()
		return n == wantN && b == 0, fmt.Sprintf("%d of %d trades, %d spool bytes", n, wantN, b)
	})
	replay := time.Since(start)
	if err := e2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := e2.wait(t); err != nil {
		t.Fatalf("second etl after SIGTERM: %v; output:\n%s", err, e2.out.String())
	}
	p.verifyTrades(keep)
	p.finishTrades(s, wantN)
	s.res.Recovery = replay
	replayed := 0
	for k := range spooled {
		if !stored[k] {
			replayed++
		}
	}
	s.res.Note = fmt.Sprintf("no history served; killed with %d trades accepted: %d stored before the kill, %d in the spool (%d bytes) all replayed by the restart, %d lost with the process's memory",
		accepted, len(stored), replayed, spoolBytes, accepted-wantN)
	t.Log(s.res.Note)
}

// spooledTrades reads a copy of the spool, as the process left it, and
// returns the keys ("exchange symbol trade_id") of its trades.
func (p *procRig) spooledTrades() map[string]bool {
	p.t.Helper()
	dir := p.t.TempDir()
	err := filepath.WalkDir(p.spoolDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(p.spoolDir, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o600)
	})
	if err != nil {
		p.t.Fatal(err)
	}
	sp, err := spool.Open(spool.Config{Dir: dir}, p.log)
	if err != nil {
		p.t.Fatal(err)
	}
	rec := &recordingWriter{}
	b, err := spool.NewBuffer(spool.BufferConfig{}, sp, rec, p.log)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(p.ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }() // waited for below
	eventually(p.t, "the spool's copy read", func() (bool, string) {
		st := b.Stats()
		return st.State == spool.StateMemory && st.Bytes == 0, fmt.Sprintf("%+v", st)
	})
	cancel()
	if err := <-done; err != nil {
		p.t.Fatal(err)
	}
	if st := b.Stats(); st.Corrupt != 0 || st.Unreadable != 0 {
		p.t.Fatalf("the spool's copy: %d corrupt records, %d unreadable segments", st.Corrupt, st.Unreadable)
	}
	out := map[string]bool{}
	for _, r := range rec.records() {
		if tr, ok := r.(*market.Trade); ok {
			out[fmt.Sprintf("%s %s %s", tr.Exchange, tr.Symbol, tr.TradeID)] = true
		}
	}
	return out
}

// recordingWriter is a spool.Writer that keeps what the spool replays.
type recordingWriter struct {
	mu   sync.Mutex // guards recs
	recs []market.Record
}

var _ spool.Writer = (*recordingWriter)(nil)

func (w *recordingWriter) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (w *recordingWriter) Admit(market.Record) error     { return nil }
func (w *recordingWriter) TryWriteWithin(rec market.Record, _ time.Duration) (bool, error) {
	return true, w.Write(context.Background(), rec)
}
func (w *recordingWriter) Write(_ context.Context, rec market.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recs = append(w.recs, rec)
	return nil
}
func (w *recordingWriter) TryReject(market.Reject) error  { return nil }
func (w *recordingWriter) Sync(ctx context.Context) error { return ctx.Err() }
func (w *recordingWriter) records() []market.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]market.Record(nil), w.recs...)
}

// liveFeed counts the messages of the live feed (Redis) per channel,
// without the prefix.
type liveFeed struct {
	prefix string
	mu     sync.Mutex // guards n
	n      map[string]int
}

// subscribeLive subscribes to every trade channel under prefix until the
// test ends.
func subscribeLive(t *testing.T, prefix string) *liveFeed {
	t.Helper()
	opt, err := redis.ParseURL(dbtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	ps := c.PSubscribe(t.Context(), prefix+":*:trade:*")
	if _, err := ps.Receive(t.Context()); err != nil {
		t.Fatalf("subscribe to the live feed: %v", err)
	}
	f := &liveFeed{prefix: prefix, n: map[string]int{}}
	ch := ps.Channel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for m := range ch {
			f.mu.Lock()
			f.n[strings.TrimPrefix(m.Channel, prefix+":")]++
			f.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = ps.Close()
		wg.Wait()
		_ = c.Close()
	})
	return f
}

// count returns the messages seen on channel (without the prefix).
func (f *liveFeed) count(channel string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[channel]
}

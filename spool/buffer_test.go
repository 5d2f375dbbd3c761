package spool

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/store"
)

var _ Writer = (*store.Writer)(nil)

// database returns a fresh migrated database: its URL and a direct pool
// for the test's own queries.
func database(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	u := dbtest.NewDatabase(t)
	if err := store.Migrate(t.Context(), u, zaptest.NewLogger(t)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := store.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return u, pool
}

// throughRelay returns a relay in front of the database of rawURL and a
// pool that connects through it.
func throughRelay(t *testing.T, rawURL string) (*dbtest.Relay, *pgxpool.Pool) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	r := dbtest.NewRelay(t, u.Host)
	u.Host = r.Addr()
	pool, err := store.Open(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return r, pool
}

// gapLog records gaps.
type gapLog struct {
	mu   sync.Mutex // guards gaps
	gaps []market.Gap
}

func (g *gapLog) RecordGap(gap market.Gap) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gaps = append(g.gaps, gap)
}

func (g *gapLog) all() []market.Gap {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.gaps)
}

// harness is a Buffer whose Run the test owns.
type harness struct {
	*Buffer
	w      *store.Writer
	cancel context.CancelFunc
	done   chan error
}

// smallWriter keeps little in memory, so that the spool is used at once.
var smallWriter = store.Config{
	BatchSize: 5, QueueSize: 10, FlushInterval: 5 * time.Millisecond,
	RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond, ShutdownTimeout: 300 * time.Millisecond,
}

func start(t *testing.T, pool *pgxpool.Pool, scfg Config, gaps GapRecorder) *harness {
	t.Helper()
	log := zaptest.NewLogger(t)
	sp, err := Open(scfg, log)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := smallWriter
	wcfg.Overflow = sp
	w, err := store.New(wcfg, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBuffer(BufferConfig{Gaps: gaps}, sp, w, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	h := &harness{Buffer: b, w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- b.Run(ctx) }()
	t.Cleanup(func() { _ = h.stop() })
	return h
}

// stop ends Run and returns its result; it may be called more than once.
func (h *harness) stop() error {
	h.cancel()
	err, ok := <-h.done
	if ok {
		close(h.done)
	}
	return err
}

func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// storedIDs returns the trade ids in the database, in order.
func storedIDs(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT trade_id FROM trades ORDER BY trade_id::bigint`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n-100000)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func countTrades(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM trades`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// span returns from, from+1, ..., to-1.
func span(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func write(t *testing.T, b *Buffer, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := b.Write(t.Context(), trade(i)); err != nil {
			t.Fatalf("write trade %d: %v", i, err)
		}
	}
}

func TestBufferSpoolsWhileDatabaseIsDown(t *testing.T) {
	dbURL, direct := database(t)
	r, pool := throughRelay(t, dbURL)
	dir := t.TempDir()
	h := start(t, pool, Config{Dir: dir}, nil)

	write(t, h.Buffer, 0, 20)
	// Stored, and the writer knows it: a COPY whose answer the relay's
	// Close cut would be retried and counted as skipped.
	await(t, "the first 20 trades stored", func() bool {
		return countTrades(t, direct) == 20 && h.w.Stats().Tables[store.TableTrades].Inserted == 20
	})

	r.Close()
	const total = 500
	write(t, h.Buffer, 20, total)
	st := h.Stats()
	if st.State != StateSpooling || st.Spooled == 0 || st.Bytes == 0 || st.Dropped != 0 {
		t.Fatalf("with the database down: %+v; want spooling, records spooled, none dropped", st)
	}
	if q := h.w.Stats().Tables[store.TableTrades].Queued; q > smallWriter.QueueSize {
		t.Errorf("trades queue holds %d records, above its size %d", q, smallWriter.QueueSize)
	}
	spooled := st.Spooled

	r.Reopen()
	await(t, "every trade stored and the spool empty", func() bool {
		s := h.Stats()
		return countTrades(t, direct) == total && s.State == StateMemory && s.Bytes == 0 && s.Segments == 0
	})
	if got, want := storedIDs(t, direct), span(0, total); !slices.Equal(got, want) {
		t.Errorf("stored ids %v, want 0..%d", got, total-1)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	st = h.Stats()
	ts := h.w.Stats().Tables[store.TableTrades]
	if st.Replayed != spooled || st.Corrupt != 0 || ts.Inserted != total || ts.Skipped != 0 {
		t.Errorf("replayed %d of %d spooled, corrupt %d; inserted %d, skipped %d; want all %d inserted once",
			st.Replayed, spooled, st.Corrupt, ts.Inserted, ts.Skipped, total)
	}
	if files := segmentFiles(t, dir); len(files) != 0 {
		t.Errorf("segment files left: %v", files)
	}
}

func TestBufferSpoolFullRecordsGap(t *testing.T) {
	dbURL, direct := database(t)
	r, pool := throughRelay(t, dbURL)
	dir := t.TempDir()
	const capRecords = 20
	gaps := &gapLog{}
	h := start(t, pool, Config{Dir: dir, MaxBytes: capRecords * frameSize(t), SegmentBytes: 4 * frameSize(t)}, gaps)

	write(t, h.Buffer, 0, 10)
	await(t, "the first 10 trades stored", func() bool { return countTrades(t, direct) == 10 })
	r.Close()
	const down = 200
	write(t, h.Buffer, 10, 10+down)
	st := h.Stats()
	if st.Spooled != capRecords || st.Bytes != capRecords*frameSize(t) {
		t.Fatalf("spooled %d records (%d bytes), want exactly the cap of %d", st.Spooled, st.Bytes, capRecords)
	}
	// Everything not held in memory or the spool was dropped: the last
	// records written.
	dropped := int(st.Dropped)
	firstDropped := 10 + down - dropped
	if dropped == 0 || dropped > down-capRecords {
		t.Fatalf("dropped %d of %d", dropped, down)
	}
	if q := h.w.Stats().Tables[store.TableTrades].Queued; q > smallWriter.QueueSize {
		t.Errorf("trades queue holds %d records, above its size %d", q, smallWriter.QueueSize)
	}
	if g := gaps.all(); len(g) != 0 {
		t.Fatalf("gap reported before the stream's records are kept again: %v", g)
	}

	r.Reopen()
	await(t, "the spool replayed", func() bool {
		s := h.Stats()
		return s.State == StateMemory && s.Bytes == 0
	})
	next := 10 + down
	write(t, h.Buffer, next, next+1)
	await(t, "every kept trade stored", func() bool { return countTrades(t, direct) == next+1-dropped })
	if got, want := storedIDs(t, direct), append(span(0, firstDropped), next); !slices.Equal(got, want) {
		t.Errorf("stored ids %v, want 0..%d and %d", got, firstDropped-1, next)
	}

	want := market.Gap{
		Stream: trade(0).Stream(), From: trade(firstDropped - 1).Time, To: trade(next).Time,
		AfterID: 100000 + int64(firstDropped) - 1, BeforeID: 100000 + int64(next), Reason: market.GapSpoolFull,
	}
	got := gaps.all()
	if len(got) != 1 {
		t.Fatalf("gaps %v, want one", got)
	}
	g := got[0]
	g.Detected = time.Time{}
	if g != want {
		t.Errorf("gap %v, want %v", g, want)
	}
	if st := h.Stats(); st.Gaps != 1 || st.Dropped != uint64(dropped) {
		t.Errorf("stats %+v: want 1 gap, %d dropped", st, dropped)
	}
}

func TestBufferShutdownWithDatabaseDownThenReplayAtStart(t *testing.T) {
	dbURL, direct := database(t)
	r, pool := throughRelay(t, dbURL)
	dir := t.TempDir()
	h := start(t, pool, Config{Dir: dir}, nil)
	select {
	case <-h.Inherited():
	default:
		t.Error("Inherited not closed at a start with an empty spool")
	}
	r.Close()
	const total = 300
	write(t, h.Buffer, 0, total)
	if err := h.stop(); err != nil {
		t.Fatalf("run with the database down: %v", err)
	}
	ts := h.w.Stats().Tables[store.TableTrades]
	st := h.Stats()
	// A spooled record the replay had handed back to the writer before the
	// shutdown is spilled again, so it is counted twice here; the replay
	// below checks that each record is on disk once at least and stored
	// exactly once.
	if ts.Lost != 0 || ts.Spilled == 0 || st.Spooled+ts.Spilled < total || ts.Inserted != 0 {
		t.Fatalf("at shutdown: spooled %d, spilled %d, lost %d, inserted %d; want all %d on disk",
			st.Spooled, ts.Spilled, ts.Lost, ts.Inserted, total)
	}
	if files := segmentFiles(t, dir); len(files) == 0 {
		t.Fatal("no segment file after shutdown")
	}

	// The next start, with the database back: the spool is replayed first.
	next := start(t, direct, Config{Dir: dir}, nil)
	if s := next.Stats(); s.State != StateSpooling {
		t.Errorf("state at start with a spool on disk: %s, want spooling", s.State)
	}
	// Inherited closes once every record the first run left is committed:
	// the collectors' resume waits for it.
	select {
	case <-next.Inherited():
	case <-time.After(time.Minute):
		t.Fatal("Inherited not closed a minute after the start")
	}
	if got, want := storedIDs(t, direct), span(0, total); !slices.Equal(got, want) {
		t.Errorf("stored ids when Inherited closed: %d of %d", len(got), total)
	}
	await(t, "the spool replayed", func() bool {
		s := next.Stats()
		return s.State == StateMemory && s.Bytes == 0
	})
	if got, want := storedIDs(t, direct), span(0, total); !slices.Equal(got, want) {
		t.Errorf("stored ids %v, want 0..%d", got, total-1)
	}
	if err := next.stop(); err != nil {
		t.Fatal(err)
	}
	if files := segmentFiles(t, dir); len(files) != 0 {
		t.Errorf("segment files left: %v", files)
	}
}

func TestBufferSkipsCorruptRecord(t *testing.T) {
	_, direct := database(t)
	dir := t.TempDir()
	sp, err := Open(Config{Dir: dir}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	const total = 30
	for i := range total {
		if err := sp.Append(trade(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "000001.spool")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[10*frameSize(t)+headerLen+5] ^= 0x40 // inside record 10's payload
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	h := start(t, direct, Config{Dir: dir}, nil)
	await(t, "the spool replayed", func() bool {
		s := h.Stats()
		return s.State == StateMemory && s.Bytes == 0
	})
	want := append(span(0, 10), span(11, total)...)
	if got := storedIDs(t, direct); !slices.Equal(got, want) {
		t.Errorf("stored ids %v, want %v", got, want)
	}
	if st := h.Stats(); st.Corrupt != 1 || st.Replayed != total-1 {
		t.Errorf("stats %+v: want 1 corrupt, %d replayed", st, total-1)
	}
}

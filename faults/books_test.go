package faults

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/backfill"
	"marketetl/market"
	"marketetl/store"
)

// The order book scenarios (29–32). The rig's collectors collect every
// market's order book (bookDepth levels per side, every book message
// stored as a row) besides its trades and 1m candles, and the test
// follows the simulated exchange's books tick by tick. Each tick whose
// update the service can apply must give one book_snapshots row equal to
// the exchange's book after it, level for level and decimal for decimal;
// each resync one row equal to the exchange's book when the new snapshot
// was taken, and one book_resync gap from the exchange time of the last
// update applied before the loss to the time of that snapshot. The rows
// are compared in the order they were received, so a missing, extra or
// reordered row fails as well as a wrong one. The faults hit the first
// market of each exchange; the second one must go on untouched. Ticks are
// not generated while a resync is under way, so the exchange's book at
// the new snapshot is known exactly.
//
// In the report, published is the number of snapshot rows the service
// must store and stored the number found equal to them, in order;
// rejected counts the order book rejects (crossed_book); the gaps are the
// book_resync gaps, which stay unfillable (no exchange serves the history
// of a book). The trades and candles of the same collectors, compared
// value for value, are in the note.

// bookDepth is the number of levels per side the book scenarios store.
const bookDepth = 25

// Resync reasons as the collectors count them (BookStatus.Resyncs).
const (
	resyncSequence = "sequence_break"
	resyncChecksum = "checksum_mismatch"
	resyncInvalid  = "invalid_book"
	resyncSession  = "reconnect"
)

// wantRow is a book_snapshots row the service must store.
type wantRow struct {
	seq int64
	// ts is the row's exchange time; zero for a snapshot the exchange
	// sends without one (a Binance REST snapshot, a Coinbase level2
	// snapshot), which the service stamps when it arrives: then within
	// the wall-clock window [after, before].
	ts            time.Time
	after, before time.Time
	depth         int
	book          string // bids and asks as PostgreSQL renders them
}

func (w wantRow) String() string {
	ts := "received between " + w.after.UTC().Format(time.RFC3339Nano) + " and " + w.before.UTC().Format(time.RFC3339Nano)
	if !w.ts.IsZero() {
		ts = w.ts.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("seq %d ts %s depth %d %s", w.seq, ts, w.depth, w.book)
}

// wantGap is a book_resync gap the service must record: from the
// exchange time of the last update applied before the loss to the time
// of the snapshot row at index row.
type wantGap struct {
	from time.Time
	row  int
	to   time.Time // the stored snapshot's time, once compared
}

// tickPlan is what the service does with one tick's update of a book.
type tickPlan struct {
	// dark: the service never sees it (frame withheld, connection down).
	dark bool
	// resync: the service resyncs at it, for this reason, and the new
	// snapshot is the exchange's book after it ("": it applies it). start
	// is the first snapshot of a Binance book, which closes no loss.
	resync string
}

const resyncStart = "start"

// bookWant is what the service must have made of one book stream.
type bookWant struct {
	stream  market.Stream
	rows    []wantRow
	gaps    []wantGap
	resyncs map[string]uint64
	rejects int
	// last is the exchange time of the last update the service applied.
	last time.Time
	// plan says what happens to the next ticks (applied when empty).
	plan []tickPlan
}

// bookTruth follows the exchange's books of a rig collecting books.
type bookTruth struct {
	t     *testing.T
	r     *rig
	ticks int
	books []*bookWant
}

// newBookTruth starts following the books of r, started at start (wall
// clock): OKX and Coinbase have sent their subscription snapshots,
// Binance's first snapshot is fetched when its first event arrives.
func newBookTruth(r *rig, start time.Time) *bookTruth {
	bt := &bookTruth{t: r.t, r: r}
	for _, ex := range r.opts.exchanges {
		for _, sym := range r.sim.Symbols(ex) {
			w := &bookWant{stream: market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeOrderBook}, resyncs: map[string]uint64{}}
			if ex == market.Binance {
				w.plan = []tickPlan{{resync: resyncStart}}
			} else {
				bt.snapshot(w, start)
			}
			bt.books = append(bt.books, w)
		}
	}
	return bt
}

// first returns the book of ex's first market.
func (bt *bookTruth) first(ex market.Exchange) *bookWant {
	bt.t.Helper()
	for _, w := range bt.books {
		if w.stream.Exchange == ex {
			return w
		}
	}
	bt.t.Fatalf("no book of %s", ex)
	return nil
}

// current returns the exchange's book of w now, as a row.
func (bt *bookTruth) current(w *bookWant) wantRow {
	bt.t.Helper()
	bids, asks, id, at, ok := bt.r.sim.Book(w.stream.Exchange, w.stream.Symbol)
	if !ok {
		bt.t.Fatalf("the simulated exchange has no book of %s", w.stream)
	}
	bids, asks = bids[:min(bookDepth, len(bids))], asks[:min(bookDepth, len(asks))]
	if at.IsZero() {
		at = bt.r.sim.Now() // before its first update: the exchange's time
	}
	row := wantRow{seq: id, ts: at, depth: max(len(bids), len(asks)), book: levelsText(bids) + " " + levelsText(asks)}
	if w.stream.Exchange == market.Coinbase {
		row.seq = 0 // level2 numbers nothing
	}
	return row
}

// snapshot notes the row of a snapshot of w's book taken now, the
// trigger of its resync having happened after the wall-clock time after.
func (bt *bookTruth) snapshot(w *bookWant, after time.Time) {
	row := bt.current(w)
	if w.stream.Exchange != market.OKX {
		// Stamped when it arrives; quiet sets before.
		row.ts, row.after = time.Time{}, after
	}
	w.rows = append(w.rows, row)
	w.last = row.ts
}

// resynced notes a resync of w for reason, its new snapshot taken now.
func (bt *bookTruth) resynced(w *bookWant, reason string, after time.Time) {
	bt.t.Helper()
	if reason != resyncStart {
		if w.last.IsZero() {
			bt.t.Fatalf("%s: the scenario resyncs a book that applied no update since its last snapshot", w.stream)
		}
		w.gaps = append(w.gaps, wantGap{from: w.last, row: len(w.rows)})
		w.resyncs[reason]++
	}
	bt.snapshot(w, after)
}

// step ticks the exchange n times, noting after each tick what the
// service must store of every book.
func (bt *bookTruth) step(n int) {
	bt.t.Helper()
	for range n {
		after := time.Now()
		bt.r.step(1)
		bt.ticks++
		for _, w := range bt.books {
			var p tickPlan
			if len(w.plan) > 0 {
				p, w.plan = w.plan[0], w.plan[1:]
			}
			switch {
			case p.dark:
			case p.resync != "":
				bt.resynced(w, p.resync, after)
			default:
				row := bt.current(w)
				w.rows = append(w.rows, row)
				w.last = row.ts
			}
		}
	}
}

// quiet waits until the database holds every row and gap noted so far:
// the service has caught up with the exchange. When it does not within
// waitBound, the test fails showing how the rows and gaps differ.
func (bt *bookTruth) quiet(what string) {
	bt.t.Helper()
	deadline := time.Now().Add(waitBound)
	for {
		state, ok := bt.caughtUp()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			bt.t.Errorf("timed out waiting for %s; last state: %s", what, state)
			bt.stamp(time.Now())
			for _, w := range bt.books {
				bt.checkRows(w)
				bt.checkGaps(w)
			}
			bt.t.FailNow()
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
	bt.stamp(time.Now())
}

// caughtUp says whether the database holds every row and gap noted.
func (bt *bookTruth) caughtUp() (string, bool) {
	for _, w := range bt.books {
		n := bt.r.queryInt(`SELECT count(*) FROM book_snapshots WHERE exchange = $1 AND symbol = $2`, string(w.stream.Exchange), string(w.stream.Symbol))
		g := bt.r.queryInt(`SELECT count(*) FROM gaps WHERE exchange = $1 AND symbol = $2 AND data_type = $3`,
			string(w.stream.Exchange), string(w.stream.Symbol), string(market.TypeOrderBook))
		if n < len(w.rows) || g < len(w.gaps) {
			return fmt.Sprintf("%s: %d of %d snapshot rows, %d of %d gaps", w.stream, n, len(w.rows), g, len(w.gaps)), false
		}
	}
	return "", true
}

// stamp closes the wall-clock windows of the snapshots stamped on
// receipt noted so far: they have arrived by now.
func (bt *bookTruth) stamp(now time.Time) {
	for _, w := range bt.books {
		for i := range w.rows {
			if w.rows[i].ts.IsZero() && w.rows[i].before.IsZero() {
				w.rows[i].before = now
			}
		}
	}
}

// bookFault is a fault of one update of a book.
type bookFault struct {
	name   string
	inject func(*bookTruth, *bookWant) error
	// plan is what the service does with the ticks from the fault on.
	plan []tickPlan
	// rejected: the update is refused (a crossed_book reject).
	rejected bool
}

var (
	faultSequenceBreak = bookFault{name: "sequence break",
		inject: func(bt *bookTruth, w *bookWant) error {
			return bt.r.sim.InjectBookSequenceBreak(w.stream.Exchange, w.stream.Symbol)
		},
		// The withheld update is never seen; the next one shows the break.
		plan: []tickPlan{{dark: true}, {resync: resyncSequence}}}
	faultChecksum = bookFault{name: "checksum mismatch",
		inject: func(bt *bookTruth, w *bookWant) error { return bt.r.sim.InjectBookChecksumMismatch(w.stream.Symbol) },
		plan:   []tickPlan{{resync: resyncChecksum}}}
	faultCrossed = bookFault{name: "crossed update",
		inject: func(bt *bookTruth, w *bookWant) error {
			return bt.r.sim.InjectCrossedBookUpdate(w.stream.Exchange, w.stream.Symbol)
		},
		plan: []tickPlan{{resync: resyncInvalid}}, rejected: true}
)

// fault injects f into the first market of each of exs, ticks through it
// and waits until the service has resynced.
func (bt *bookTruth) fault(f bookFault, exs ...market.Exchange) {
	bt.t.Helper()
	n := 0
	for _, ex := range exs {
		w := bt.first(ex)
		if err := f.inject(bt, w); err != nil {
			bt.t.Fatal(err)
		}
		w.plan = append([]tickPlan(nil), f.plan...)
		if f.rejected {
			w.rejects++
		}
		n = max(n, len(f.plan))
	}
	bt.step(n)
	bt.quiet("the books resynced after a " + f.name)
}

// outageTicks is how many ticks the exchange makes while a dropped
// connection is down.
const outageTicks = 3

// drop drops every connection of exs at the TCP level and refuses new
// ones while the exchange ticks outageTicks times, then lets the
// collectors back in: every book of exs resyncs from a new snapshot.
func (bt *bookTruth) drop(exs ...market.Exchange) {
	bt.t.Helper()
	r := bt.r
	bt.quiet("the books caught up before the drop") // nothing in flight is lost with the connection
	connects := map[market.Exchange]int64{}
	for _, ex := range exs {
		r.sim.RejectConnections(ex, true)
		before := r.sim.Counts(ex).Connects
		n := r.sim.DropConnections(ex)
		if n == 0 {
			bt.t.Fatalf("%s: no connection to drop", ex)
		}
		connects[ex] = before + int64(n)
		if err := r.sim.WaitConnections(r.ctx, ex, 0); err != nil {
			bt.t.Fatal(err)
		}
		for _, w := range bt.books {
			if w.stream.Exchange == ex {
				w.plan = make([]tickPlan, outageTicks)
				for i := range w.plan {
					w.plan[i].dark = true
				}
			}
		}
	}
	bt.step(outageTicks)
	after := time.Now()
	for _, ex := range exs {
		r.sim.RejectConnections(ex, false)
		if err := r.sim.WaitConnects(r.ctx, ex, connects[ex]); err != nil {
			bt.t.Fatal(err)
		}
	}
	r.waitSubscribed(exs...)
	for _, ex := range exs {
		for _, w := range bt.books {
			if w.stream.Exchange != ex {
				continue
			}
			if ex == market.Binance {
				// The first event on the new connection makes the
				// service fetch a new snapshot.
				w.plan = []tickPlan{{resync: resyncSession}}
			} else {
				// The new subscription's snapshot.
				bt.resynced(w, resyncSession, after)
			}
		}
	}
	bt.step(1)
	bt.quiet("the books resynced after the reconnect")
}

// finish waits for the trades and candles, then asserts every book row,
// gap, reject and resync count, and records the result: published and
// stored are book snapshot rows.
func (bt *bookTruth) finish(s *scenario) {
	bt.t.Helper()
	r := bt.r
	// On past the first minute of exchange time (the rig's exchange
	// starts on the hour, one second per tick): every market has a
	// closed 1m candle to compare too.
	bt.step(max(1, 61-bt.ticks))
	bt.quiet("every book row and gap stored")
	r.waitTruth()
	gaps := 0
	for _, w := range bt.books {
		gaps += len(w.gaps)
	}
	s.finish(r, 0, gaps)
	trades, tradesWant := s.res.Stored, s.res.Published-s.res.Rejected

	var published, stored, rejected int
	for _, w := range bt.books {
		published += len(w.rows)
		stored += bt.checkRows(w)
		bt.checkGaps(w)
		rejected += bt.checkRejects(w)
		bt.checkStatus(w)
	}
	dups := r.queryInt(`SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM book_snapshots
		WHERE exchange <> $1 GROUP BY exchange, symbol, sequence) d`, string(market.Coinbase))
	if dups != 0 {
		bt.t.Errorf("%d book snapshot rows repeat an update id", dups)
	}
	s.res.Published, s.res.Stored, s.res.Rejected, s.res.Duplicates = published, stored, rejected, s.res.Duplicates+dups
	s.res.Note = fmt.Sprintf("published/stored: book snapshot rows (one per update applied, one per resync), stored equal to the exchange's book level for level; "+
		"%d book_resync gaps, unfillable by design; trades and closed 1m candles of the same collectors %d/%d stored exactly", gaps, trades, tradesWant)
	bt.t.Logf("published %d, stored %d, rejected %d, duplicates %d, gaps open %d (%d); %s", s.res.Published, s.res.Stored, s.res.Rejected,
		s.res.Duplicates, s.res.GapsOpen, s.res.GapsExpected, s.res.Note)
}

// checkRows compares w's stored rows with the wanted ones, in the order
// received, and returns the number equal.
func (bt *bookTruth) checkRows(w *bookWant) int {
	bt.t.Helper()
	rows, err := bt.r.check.Query(bt.r.ctx, `SELECT sequence, ts, depth, bids::text || ' ' || asks::text FROM book_snapshots
		WHERE exchange = $1 AND symbol = $2 ORDER BY received_at, ts, sequence`, string(w.stream.Exchange), string(w.stream.Symbol))
	if err != nil {
		bt.t.Fatal(err)
	}
	defer rows.Close()
	var got []wantRow
	for rows.Next() {
		var g wantRow
		if err := rows.Scan(&g.seq, &g.ts, &g.depth, &g.book); err != nil {
			bt.t.Fatal(err)
		}
		got = append(got, g)
	}
	if err := rows.Err(); err != nil {
		bt.t.Fatal(err)
	}
	if len(got) != len(w.rows) {
		bt.t.Errorf("%s: %d snapshot rows stored, want %d", w.stream, len(got), len(w.rows))
	}
	equal, shown := 0, 0
	for i := range min(len(got), len(w.rows)) {
		g, want := got[i], w.rows[i]
		ok := g.seq == want.seq && g.depth == want.depth && g.book == want.book
		if want.ts.IsZero() {
			// Stamped on receipt (microseconds in the database).
			ok = ok && !g.ts.Before(want.after.Truncate(time.Microsecond)) && !g.ts.After(want.before)
		} else {
			ok = ok && g.ts.Equal(want.ts)
		}
		if ok {
			equal++
			continue
		}
		if shown < 3 {
			bt.t.Errorf("%s snapshot row %d:\n db       %s\n exchange %s", w.stream, i, g, want)
			shown++
		}
	}
	// The gaps end at their snapshots' times.
	for i := range w.gaps {
		if r := w.gaps[i].row; r < len(got) {
			w.gaps[i].to = got[r].ts
		}
	}
	return equal
}

// checkGaps compares w's order book gaps with the wanted ones: each
// found unfillable by the backfill (no exchange serves a book's history).
func (bt *bookTruth) checkGaps(w *bookWant) {
	bt.t.Helper()
	var want []string
	for _, g := range w.gaps {
		want = append(want, fmt.Sprintf("%s %s %s %s %s", market.GapBookResync, ts6(g.from), ts6(g.to), store.GapUnfillable, backfill.ReasonUnsupported))
	}
	got := bt.r.strings(`SELECT concat_ws(' ', reason, to_char(from_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
			to_char(to_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), status, unfillable_reason)
		FROM gaps WHERE exchange = $1 AND symbol = $2 AND data_type = $3 ORDER BY from_ts, to_ts`,
		string(w.stream.Exchange), string(w.stream.Symbol), string(market.TypeOrderBook))
	diff(bt.t, w.stream.String()+" order book gaps (reason from to status why)", want, got)
}

func ts6(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

// checkRejects compares w's order book rejects with the wanted ones and
// returns how many there are.
func (bt *bookTruth) checkRejects(w *bookWant) int {
	bt.t.Helper()
	var n, crossed int
	eventually(bt.t, w.stream.String()+"'s rejects stored", func() (bool, string) {
		n = bt.r.queryInt(`SELECT count(*) FROM rejects WHERE exchange = $1 AND symbol = $2 AND data_type = $3`,
			string(w.stream.Exchange), string(w.stream.Symbol), string(market.TypeOrderBook))
		return n >= w.rejects, fmt.Sprintf("%d of %d", n, w.rejects)
	})
	crossed = bt.r.queryInt(`SELECT count(*) FROM rejects WHERE exchange = $1 AND symbol = $2 AND data_type = $3 AND reason = 'crossed_book'`,
		string(w.stream.Exchange), string(w.stream.Symbol), string(market.TypeOrderBook))
	if n != w.rejects || crossed != w.rejects {
		bt.t.Errorf("%s: %d order book rejects (%d crossed_book), want %d crossed_book", w.stream, n, crossed, w.rejects)
	}
	return n
}

// checkStatus compares w's counters in the collector's status (what
// /api/status and /metrics report) with the resyncs the exchange caused.
func (bt *bookTruth) checkStatus(w *bookWant) {
	bt.t.Helper()
	ss, ok := bt.r.cols[w.stream.Exchange].Status().Streams[w.stream.String()]
	if !ok || ss.Book == nil {
		bt.t.Errorf("%s: no book in the collector's status", w.stream)
		return
	}
	st := ss.Book
	got := map[string]uint64{}
	for k, v := range st.Resyncs {
		if v != 0 {
			got[k] = v
		}
	}
	if !maps.Equal(got, w.resyncs) {
		bt.t.Errorf("%s: resyncs %v in the status, want %v", w.stream, got, w.resyncs)
	}
	if st.SequenceBreaks != w.resyncs[resyncSequence] || st.ChecksumFailures != w.resyncs[resyncChecksum] {
		bt.t.Errorf("%s: %d sequence breaks and %d checksum failures in the status, want %d and %d", w.stream,
			st.SequenceBreaks, st.ChecksumFailures, w.resyncs[resyncSequence], w.resyncs[resyncChecksum])
	}
	if st.Snapshots != uint64(len(w.rows)) {
		bt.t.Errorf("%s: %d snapshots handed on in the status, want %d", w.stream, st.Snapshots, len(w.rows))
	}
	if !st.Synced {
		bt.t.Errorf("%s: the book is not synced at the end", w.stream)
	}
}

// levelsText renders levels as PostgreSQL writes a two-dimensional numeric
// array: {{price,size},...}, with the exchange's decimals.
func levelsText(ls []market.Level) string {
	if len(ls) == 0 {
		return "{}"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = "{" + exactText(l.Price) + "," + exactText(l.Size) + "}"
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// exactText writes d with its own decimals, trailing zeros kept.
func exactText(d decimal.Decimal) string {
	if d.Exponent() < 0 {
		return d.StringFixed(-d.Exponent())
	}
	return d.String()
}

// startBooks starts a rig collecting the books of exs and follows them;
// the first tick lets Binance fetch its first snapshot, the next ones
// give every book a few updates before the faults.
func startBooks(t *testing.T, s *scenario, exs ...market.Exchange) *bookTruth {
	t.Helper()
	start := time.Now()
	r := startRig(t, rigOpts{exchanges: exs, books: true})
	s.watch(r)
	bt := newBookTruth(r, start)
	bt.step(1)
	bt.quiet("the first books")
	bt.step(5)
	return bt
}

// Scenario 29: the order book updates break their sequence: an OKX
// update is withheld (the next one's prevSeqId is not the last seqId),
// a Binance diff event is withheld (the next one's U is not the last
// u + 1). Twice on each: every break is one resync from a new snapshot
// (OKX resubscribes, Binance fetches the REST snapshot) and one
// book_resync gap.
func TestBookSequenceBreak(t *testing.T) {
	s := newScenario(t, 29)
	exs := []market.Exchange{market.OKX, market.Binance}
	bt := startBooks(t, s, exs...)
	for range 2 {
		bt.fault(faultSequenceBreak, exs...)
		bt.step(5)
	}
	bt.finish(s)
}

// Scenario 30: an OKX books update carries a wrong checksum, twice: each
// is one resync (resubscription) and one book_resync gap.
func TestBookChecksumMismatch(t *testing.T) {
	s := newScenario(t, 30)
	bt := startBooks(t, s, market.OKX)
	for range 2 {
		bt.fault(faultChecksum, market.OKX)
		bt.step(5)
	}
	bt.finish(s)
}

// Scenario 31: an update crosses the book (a bid above the best ask that
// the exchange's own book does not have) on each exchange: it is refused
// (a crossed_book reject), the book resyncs and the loss is one
// book_resync gap; the book after the resync is the exchange's.
func TestCrossedBook(t *testing.T) {
	s := newScenario(t, 31)
	exs := []market.Exchange{market.OKX, market.Binance, market.Coinbase}
	bt := startBooks(t, s, exs...)
	bt.fault(faultCrossed, exs...)
	bt.step(5)
	bt.finish(s)
}

// Scenario 32: the connections of all three exchanges are dropped while
// their books stream, and stay refused while the exchange ticks: every
// book, both markets of each exchange, resyncs from a new snapshot
// (resubscription; Binance's REST snapshot) with one book_resync gap over
// the outage, and the trades missed meanwhile are repaired from REST.
// The outage stays within one minute of exchange time: no closed candle
// is missed (scenario 1 covers that).
func TestBookConnectionDrop(t *testing.T) {
	s := newScenario(t, 32)
	exs := []market.Exchange{market.OKX, market.Binance, market.Coinbase}
	bt := startBooks(t, s, exs...)
	bt.drop(exs...)
	bt.step(5)
	bt.finish(s)
}

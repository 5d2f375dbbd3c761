package collector

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/book"
	"marketetl/market"
)

// BookConfig is how a collector keeps its order books. Zero values take
// the defaults documented on each field.
type BookConfig struct {
	// Depth is the number of levels per side stored and published.
	// Default 20.
	Depth int
	// Interval is how often a snapshot record is handed on per symbol
	// (and one right after every (re)sync). Default 1s. A book that gets
	// no message for Interval still gets its snapshot record, from a timer
	// of the connection it follows (quiet snapshots); not when Interval is
	// below MinQuietInterval, which only tests use to hand on a snapshot
	// per message.
	Interval time.Duration
	// PublishInterval is how often at most a symbol's book goes to Live.
	// Default 100ms.
	PublishInterval time.Duration
	// Updates hands every level change on as a *market.BookUpdate.
	Updates bool
	// DriftCheck is how often an unsequenced book (Coinbase) is compared
	// with the exchange's REST book when the protocol can fetch one
	// (BookFetcher). Default 30s; negative: never.
	DriftCheck time.Duration
	// DriftSettle is how long after the REST book is read the comparison
	// waits, still noting the changes applied, so that changes the
	// exchange made before answering but sent after are excused.
	// Default 1s.
	DriftSettle time.Duration
	// Live, when set, receives the book for the live feed at most every
	// PublishInterval per symbol, between the stored snapshots (which
	// reach the live feed through the sink). It must not block.
	Live func(*market.BookSnapshot)
}

// MinQuietInterval is the shortest Interval with quiet snapshots (the
// configuration's book_interval is at least this).
const MinQuietInterval = 10 * time.Millisecond

func (bc *BookConfig) applyDefaults() {
	if bc.Depth <= 0 {
		bc.Depth = 20
	}
	if bc.Interval <= 0 {
		bc.Interval = time.Second
	}
	if bc.PublishInterval <= 0 {
		bc.PublishInterval = 100 * time.Millisecond
	}
	if bc.DriftCheck == 0 {
		bc.DriftCheck = 30 * time.Second
	}
	if bc.DriftSettle <= 0 {
		bc.DriftSettle = time.Second
	}
}

// Reject reasons of an invalid local book, the same codes as package
// validate's.
const (
	reasonCrossedBook    = "crossed_book"
	reasonLockedBook     = "locked_book"
	reasonDuplicateLevel = "duplicate_level"
	reasonBadLevel       = "non_positive_price"
	reasonBookRange      = ReasonBadNumber
)

// Resync reasons, as counted in BookStatus.Resyncs and logged.
const (
	resyncSequence = "sequence_break"
	resyncChecksum = "checksum_mismatch"
	resyncInvalid  = "invalid_book"
	resyncDrift    = "drift"
	resyncSession  = "reconnect"
)

// BookStatus is one order book stream's state and counters.
type BookStatus struct {
	// Synced is true while the local book follows the exchange's.
	Synced bool
	// Sequence is the last applied update id (0 when the exchange sends
	// none).
	Sequence int64
	// BidLevels and AskLevels are the local book's depth; Spread the best
	// ask minus the best bid (zero when a side is empty).
	BidLevels, AskLevels int
	Spread               decimal.Decimal
	// LastUpdate is when the last message was applied (local clock).
	LastUpdate time.Time
	// Resyncs counts the books dropped and rebuilt, by reason
	// (sequence_break, checksum_mismatch, invalid_book, drift,
	// reconnect); SequenceBreaks and ChecksumFailures count those causes.
	Resyncs          map[string]uint64
	SequenceBreaks   uint64
	ChecksumFailures uint64
	// Snapshots and Updates count the records handed on; QuietSnapshots
	// counts the snapshots among them taken by the timer of a book that
	// had no message for an interval.
	Snapshots, Updates, QuietSnapshots uint64
}

// bookOutput is what one book message produced.
type bookOutput struct {
	// records go to the sink, in order (snapshots and updates).
	records []market.Record
	// quiet is set when records is a quiet snapshot: the book unchanged
	// since the last record, restated for its interval.
	quiet bool
	// live goes to the live feed only.
	live *market.BookSnapshot
	// resync is non-nil when the book was dropped: the exchange must send
	// a new snapshot (resubscribe, or fetch one). It says why.
	resync error
	// reject is set when the book became invalid.
	reject *market.Reject
	// gap is the window of a completed resync.
	gap *market.Gap
}

// bookKeeper keeps the local order book of one stream: it applies the
// adapter's BookMessages with package book, checks their sequence and
// checksum, and says when the book must be resynced. Safe for concurrent
// use (a connection's reader and a snapshot fetch may both call it).
type bookKeeper struct {
	stream market.Stream
	seq    BookSequencing
	cfg    BookConfig
	// handing is held by whoever makes output and hands it on (a
	// connection's reader, a snapshot fetch, the quiet timer), so that the
	// records reach the sink in the order they were made.
	handing sync.Mutex

	mu sync.Mutex // guards the fields below
	b  book.Book
	// synced is true while b follows the exchange's book.
	synced bool
	okx    book.OKXSequence
	bin    book.BinanceSync
	// session is the connection session of the last message.
	session uint64
	// lostFrom is the exchange time of the last update applied before the
	// book was dropped (zero: never synced or no loss pending), lostWhy
	// the reason.
	lostFrom time.Time
	lost     bool
	// asked is true while a resync asked for is outstanding.
	asked bool
	// inFlight notes the changes applied while a drift check's REST
	// request is out.
	inFlight book.InFlight
	// unverified is the exchange time of the first update applied since
	// the book was last known right (loaded from a snapshot, or found
	// equal to the REST book); zero when none was applied since.
	unverified time.Time
	// checking is true from beginDrift to compareDrift; flightFirst is the
	// exchange time of the first update applied meanwhile, which the REST
	// book may not include.
	checking    bool
	flightFirst time.Time
	// lastStored and lastLive are when (local clock) a snapshot was last
	// handed on and last published.
	lastStored, lastLive time.Time
	st                   BookStatus
}

func newBookKeeper(s market.Stream, seq BookSequencing, cfg BookConfig) *bookKeeper {
	cfg.applyDefaults()
	return &bookKeeper{stream: s, seq: seq, cfg: cfg, st: BookStatus{Resyncs: map[string]uint64{}}}
}

// status returns a copy of the keeper's status.
func (k *bookKeeper) status() BookStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.st
	st.Resyncs = make(map[string]uint64, len(k.st.Resyncs))
	for r, n := range k.st.Resyncs {
		st.Resyncs[r] = n
	}
	return st
}

// errNeedSnapshot: a ranged stream buffers its first events until a REST
// snapshot is fetched.
var errNeedSnapshot = errors.New("book waits for its first snapshot")

// handle applies one message read by session at received. A resync it
// asks for (out.resync) is asked once: until a snapshot arrives or
// resyncFailed is called, the book waits.
func (k *bookKeeper) handle(m *BookMessage, received time.Time, session uint64) bookOutput {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := k.handleLocked(m, received, session)
	if out.resync != nil {
		if k.asked && !errors.Is(out.resync, book.ErrSnapshotStale) {
			out.resync = nil // already asked for
		} else {
			k.asked = true
		}
	}
	return out
}

// resyncFailed says that the resync asked for could not be done; the next
// message asks again.
func (k *bookKeeper) resyncFailed() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.asked = false
}

func (k *bookKeeper) handleLocked(m *BookMessage, received time.Time, session uint64) bookOutput {
	var out bookOutput
	if k.session != 0 && session != 0 && session != k.session {
		// A new connection: the book restarts from its snapshot; what
		// happened while disconnected is unknown.
		if k.synced {
			k.drop(resyncSession)
		}
		k.asked = false
	}
	if session != 0 {
		k.session = session
	}
	if m.Snapshot {
		return k.snapshot(m, received)
	}
	switch k.seq {
	case BookChained:
		if m.Prev == -1 {
			return k.snapshot(m, received)
		}
		if !k.synced {
			return out // waiting for the snapshot asked for
		}
		if err := k.okx.Update(m.Prev, m.Seq); err != nil {
			k.st.SequenceBreaks++
			k.drop(resyncSequence)
			out.resync = err
			return out
		}
	case BookRanged:
		apply, err := k.bin.Event(book.DepthEvent{FirstID: m.First, LastID: m.Seq, Time: m.Time, Changes: m.Changes})
		if err != nil {
			// A stale snapshot after the book was handed on is a break
			// too: the book shown since the snapshot has missed changes.
			if errors.Is(err, book.ErrSequenceBreak) || k.synced {
				k.st.SequenceBreaks++
				k.drop(resyncSequence)
			}
			out.resync = err
			return out
		}
		if !apply {
			if _, ok := k.bin.Synced(); !ok && !k.synced && !k.asked {
				out.resync = errNeedSnapshot
			}
			return out
		}
	default:
		if !k.synced {
			return out
		}
	}
	k.apply(&out, m.Changes, m.Time, m.Seq, m.Checksum, received)
	return out
}

// snapshot loads a full book: an exchange snapshot on the stream (OKX,
// Coinbase) or a REST snapshot joined with the buffered events (Binance).
func (k *bookKeeper) snapshot(m *BookMessage, received time.Time) bookOutput {
	var out bookOutput
	var pending []book.DepthEvent
	if k.seq == BookRanged {
		evs, err := k.bin.Snapshot(m.Seq)
		if err != nil {
			out.resync = err
			return out
		}
		pending = evs
	}
	if err := k.b.Load(m.Bids, m.Asks); err != nil {
		k.invalid(&out, err, received)
		return out
	}
	k.b.Sequence, k.b.Time = m.Seq, m.Time
	k.unverified = time.Time{}
	if k.seq == BookChained {
		k.okx.Snapshot(m.Seq)
		if err := book.CheckOKX(&k.b, m.Checksum); err != nil {
			k.st.ChecksumFailures++
			k.drop(resyncChecksum)
			out.resync = err
			return out
		}
	}
	if k.lost {
		g := market.Gap{Stream: k.stream, From: k.lostFrom, To: m.Time, Reason: market.GapBookResync, Detected: received}
		if g.From.IsZero() || g.To.Before(g.From) {
			g.From = g.To
		}
		out.gap = &g
		k.lost = false
	}
	k.synced, k.asked = true, false
	for _, ev := range pending {
		if err := k.b.Apply(ev.Changes); err != nil {
			k.invalid(&out, err, received)
			return out
		}
		k.b.Sequence, k.b.Time = ev.LastID, ev.Time
		k.noteUpdates(&out, ev.Changes, ev.Time, ev.LastID, received)
	}
	k.emitSnapshot(&out, received)
	return out
}

// apply applies the changes of one update and checks the book.
func (k *bookKeeper) apply(out *bookOutput, changes []market.BookChange, at time.Time, seq, checksum int64, received time.Time) {
	if err := k.b.Apply(changes); err != nil {
		k.invalid(out, err, received)
		return
	}
	if k.seq == BookChained {
		if err := book.CheckOKX(&k.b, checksum); err != nil {
			k.st.ChecksumFailures++
			k.drop(resyncChecksum)
			out.resync = err
			return
		}
	}
	k.b.Sequence, k.b.Time = seq, at
	k.inFlight.Note(changes)
	if k.unverified.IsZero() {
		k.unverified = at
	}
	if k.checking && k.flightFirst.IsZero() {
		k.flightFirst = at
	}
	k.noteUpdates(out, changes, at, seq, received)
	switch {
	case received.Sub(k.lastStored) >= k.cfg.Interval:
		k.emitSnapshot(out, received)
	case received.Sub(k.lastLive) >= k.cfg.PublishInterval:
		out.live = k.b.Snapshot(k.meta(received), k.cfg.Depth)
		k.lastLive = received
	}
	k.noteStatus(received)
}

func (k *bookKeeper) noteUpdates(out *bookOutput, changes []market.BookChange, at time.Time, seq int64, received time.Time) {
	if !k.cfg.Updates {
		return
	}
	for _, c := range changes {
		out.records = append(out.records, &market.BookUpdate{Meta: market.Meta{Exchange: k.stream.Exchange, Symbol: k.stream.Symbol, Time: at, Received: received}, BookChange: c, Sequence: seq})
		k.st.Updates++
	}
}

// quiet hands on, at now, the snapshot of a book that has not been handed
// on for an interval: when the book follows the connection session (so
// that a book whose connection ended is never restated), is synced, no
// resync is pending, and Interval allows quiet snapshots. The record's
// time and sequence stay those of the last update applied; Received is
// now, when it was taken. It also returns when the next one is due (zero
// when none can be).
func (k *bookKeeper) quiet(now time.Time, session uint64) (out bookOutput, next time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cfg.Interval < MinQuietInterval || !k.synced || k.asked || k.session != session || session == 0 {
		return out, time.Time{}
	}
	if due := k.lastStored.Add(k.cfg.Interval); now.Before(due) {
		return out, due
	}
	out.records = append(out.records, k.b.Snapshot(k.meta(now), k.cfg.Depth))
	out.quiet = true
	k.lastStored, k.lastLive = now, now
	k.st.Snapshots++
	k.st.QuietSnapshots++
	return out, now.Add(k.cfg.Interval)
}

func (k *bookKeeper) emitSnapshot(out *bookOutput, received time.Time) {
	out.records = append(out.records, k.b.Snapshot(k.meta(received), k.cfg.Depth))
	k.lastStored, k.lastLive = received, received
	k.st.Snapshots++
	k.noteStatus(received)
}

func (k *bookKeeper) meta(received time.Time) market.Meta {
	return market.Meta{Exchange: k.stream.Exchange, Symbol: k.stream.Symbol, Received: received}
}

func (k *bookKeeper) noteStatus(received time.Time) {
	k.st.Synced = k.synced
	k.st.Sequence = k.b.Sequence
	k.st.BidLevels, k.st.AskLevels = k.b.Depth()
	k.st.Spread, _ = k.b.Spread()
	k.st.LastUpdate = received
}

// invalid drops a book that became invalid and keeps the reason.
func (k *bookKeeper) invalid(out *bookOutput, err error, received time.Time) {
	reason := reasonBadLevel
	switch {
	case errors.Is(err, book.ErrCrossed):
		reason = reasonCrossedBook
	case errors.Is(err, book.ErrLocked):
		reason = reasonLockedBook
	case errors.Is(err, book.ErrDuplicateLevel):
		reason = reasonDuplicateLevel
	case errors.Is(err, book.ErrPriceRange):
		reason = reasonBookRange
	}
	out.reject = &market.Reject{Received: received, Exchange: k.stream.Exchange, Symbol: k.stream.Symbol, Type: market.TypeOrderBook,
		Reason: reason, Detail: err.Error()}
	k.drop(resyncInvalid)
	out.resync = fmt.Errorf("%s: %w", reason, err)
}

// drop forgets the local book after a loss, counted under why; the next
// snapshot closes the gap opened here.
func (k *bookKeeper) drop(why string) {
	if k.synced && !k.lost {
		k.lostFrom, k.lost = k.b.Time, true
	} else if !k.lost {
		k.lostFrom, k.lost = time.Time{}, true
	}
	k.st.Resyncs[why]++
	k.synced = false
	k.okx = book.OKXSequence{}
	if why != resyncSequence {
		// BinanceSync restarts itself on a break, keeping the breaking
		// event buffered; on any other loss it starts afresh.
		k.bin.Reset()
	}
	k.b.Reset()
	k.st.Synced = false
}

// beginDrift starts noting the changes applied, just before the
// exchange's REST book is asked for; false when there is no book to check.
func (k *bookKeeper) beginDrift() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.synced || k.asked {
		return false
	}
	k.inFlight.Begin()
	k.checking, k.flightFirst = true, time.Time{}
	return true
}

// endDrift stops noting changes, when the REST book could not be read.
func (k *bookKeeper) endDrift() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inFlight.End()
	k.checking = false
}

// compareDrift compares the book with the exchange's REST book m, excusing
// the levels changed since beginDrift. When they disagree beyond those,
// the book is dropped (counted as drift) and resync is true: the caller
// asks for a new snapshot.
func (k *bookKeeper) compareDrift(m *BookMessage) (d book.Drift, resync bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inFlight.End()
	k.checking = false
	if !k.synced {
		return d, false
	}
	d = book.CompareREST(&k.b, m.Bids, m.Asks, &k.inFlight)
	if !d.Disagrees() {
		// Right up to the updates applied while the request was out,
		// which the exchange's answer may not include.
		k.unverified = k.flightFirst
		return d, false
	}
	unverified := k.unverified
	k.drop(resyncDrift)
	// The book went wrong at one of the updates applied since it was
	// last known right: the gap opens just before the first of them (a
	// microsecond, the database's resolution), so that the snapshots
	// handed on since then are inside it.
	if !unverified.IsZero() && unverified.Before(k.lostFrom.Add(time.Microsecond)) {
		k.lostFrom = unverified.Add(-time.Microsecond)
	}
	k.asked = true
	return d, true
}

package spool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

// Writer is what a Buffer needs of the store writer. *store.Writer
// implements it.
type Writer interface {
	// Run stores records until ctx ends, then drains (see store.Writer.Run).
	Run(ctx context.Context) error
	// Admit reports, without blocking, whether rec can be stored (see
	// store.Writer.Admit).
	Admit(rec market.Record) error
	// TryWriteWithin queues rec, waiting up to wait for room; queued is
	// false when the queue stayed full. The error is set when rec cannot
	// be stored at all (the writer is closed, or rec's type is
	// unsupported).
	TryWriteWithin(rec market.Record, wait time.Duration) (queued bool, err error)
	// Write queues rec, blocking while the queue is full, until ctx ends.
	Write(ctx context.Context, rec market.Record) error
	// TryReject queues a reject without blocking; one that finds the queue
	// full is counted and dropped.
	TryReject(rej market.Reject) error
	// Sync waits until every record queued before it is committed; it
	// fails when ctx ends or the writer shuts down.
	Sync(ctx context.Context) error
}

// GapRecorder is told of each window of a stream whose records were
// dropped because the spool was full (or refused them), or were damaged on
// disk and skipped by the replay. RecordGap must not block.
type GapRecorder interface {
	RecordGap(g market.Gap)
}

// State says where new records go.
type State string

// The Buffer states.
const (
	// StateMemory: records go to the writer's memory queue; the spool is
	// empty.
	StateMemory State = "memory"
	// StateSpooling: the queue was full (the database is down or slow), so
	// records go to the spool, behind those already there, until the
	// replay has caught up.
	StateSpooling State = "spooling"
	// StateReplaying: records go to the memory queue again while the last
	// spooled segment is being replayed.
	StateReplaying State = "replaying"
)

// BufferConfig wires a Buffer.
type BufferConfig struct {
	// Gaps, if set, is told of the windows of records dropped because the
	// spool was full, and of those damaged on disk (see segment indexes).
	Gaps GapRecorder
	// Now is the clock for Gap.Detected (default time.Now).
	Now func() time.Time
	// Validate, if set, checks each replayed record again, as every other
	// input is checked (a spool file is input from disk): it returns the
	// reject to keep, and true, for a record that must not be stored. Such
	// a record is handed to the writer's rejects instead of its table.
	Validate func(rec market.Record) (market.Reject, bool)
	// SpoolAfter is how long a record waits for room in the writer's
	// queue before it (and the records after it) go to the spool: a queue
	// is full for a moment while its table flushes, and a database that
	// is slower than the feed for a while only slows the reading; one that
	// stalls longer is spooled. 0 spools at once. There is no wait
	// behind a writer's flush that has been in progress for
	// store.StalledFlush (store.Writer.TryWriteWithin): the database is
	// stalled, and the record joins the spool at once.
	SpoolAfter time.Duration
}

// Buffer puts records in front of a store writer so that producers never
// block on the database: a record goes to the writer's memory queue while
// it has room, otherwise to the spool, and once records are spooled, new
// ones follow them there until the replay has caught up, so that they
// reach the database in order. When the spool is full too, records are
// dropped, counted and reported as gaps per stream. Rejects stay in
// memory: one that finds the rejects queue full is counted and dropped.
//
// Write and Reject may be called from any goroutine, before and while Run
// runs; Run owns the writer's Run and the replay. Writes of different
// streams (so of different collectors) share no lock while they wait for
// room in the writer's queue: each stream has its own, and the state is
// read atomically; only the spool's file is shared, once records go there.
type Buffer struct {
	cfg BufferConfig
	sp  *Spool
	w   Writer
	log *zap.Logger

	mu    sync.Mutex // guards state changes (Write's switch to spooling, the replay's)
	state State

	// streams holds the marks of each stream.
	streams streamTable

	wake chan struct{} // capacity 1: records were spooled
	// current mirrors state; Write and Stats read it without a lock.
	current atomic.Value

	spooled, replayed, corrupt, dropped, gaps atomic.Uint64
	unreadable, corruptGaps, replayRejected   atomic.Uint64

	// inherited is the last segment an earlier run left (0: none);
	// inheritedDone is closed once every one of them is replayed and
	// committed, or set aside.
	inherited     int
	inheritedDone chan struct{}
	inheritedOnce sync.Once
}

// mark is the position of a record in its stream: its time and, for a
// trade with a numeric id, that id.
type mark struct {
	t  time.Time
	id int64
}

// streamMarks is what the Buffer knows of one stream: where its last kept
// record was, and its open hole. Its mutex also serialises the stream's
// Writes.
type streamMarks struct {
	mu       sync.Mutex // guards the fields below
	lastKept mark
	haveKept bool
	open     *hole
}

// hole is a run of dropped records of one stream.
type hole struct {
	from     mark // last record kept before the hole
	haveFrom bool
	first    mark // first and last dropped
	last     mark
	minT     time.Time
	maxT     time.Time
	n        uint64
	reason   market.GapReason // spool_full, or spool_error when the disk refused
}

// NewBuffer returns a Buffer in front of w that spools to sp. When sp
// holds records (from an earlier run), new records are spooled behind them
// and the replay starts as soon as Run does.
func NewBuffer(cfg BufferConfig, sp *Spool, w Writer, log *zap.Logger) (*Buffer, error) {
	if sp == nil || w == nil {
		return nil, errors.New("new spool buffer: a spool and a writer are required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Buffer{
		cfg: cfg, sp: sp, w: w, log: log,
		state: StateMemory,
		wake:  make(chan struct{}, 1),
	}
	b.inheritedDone = make(chan struct{})
	if !sp.empty() {
		b.state = StateSpooling
		b.inherited = sp.lastSegment()
		b.signal()
	} else {
		close(b.inheritedDone)
	}
	b.current.Store(b.state)
	return b, nil
}

// Inherited is closed once the records an earlier run left in the spool
// are all committed (or their damaged segments set aside and reported as
// gaps); at once when it left none. Until then the database does not yet
// hold where that run's streams ended: a collector that resumed from it
// would record the spooled records' window as a gap.
func (b *Buffer) Inherited() <-chan struct{} { return b.inheritedDone }

// noteReplayed closes Inherited once the oldest segment left is newer
// than the last inherited one.
func (b *Buffer) noteReplayed() {
	if b.inherited == 0 {
		return
	}
	if no, ok := b.sp.oldestNo(); !ok || no > b.inherited {
		b.inheritedOnce.Do(func() { close(b.inheritedDone) })
	}
}

func (b *Buffer) setLocked(s State) {
	b.state = s
	b.current.Store(s)
}

func (b *Buffer) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Admit reports whether rec can be stored (see Writer.Admit); every type
// the writer stores can be spooled.
func (b *Buffer) Admit(rec market.Record) error { return b.w.Admit(rec) }

// Write hands rec to the writer's queue, or to the spool (see Buffer). It
// does not block on the database. It returns nil when rec was queued,
// spooled, or dropped and reported because the spool is full; an error
// only when rec cannot be stored at all (the writer is closed, or its type
// is unsupported).
func (b *Buffer) Write(_ context.Context, rec market.Record) error {
	sm := b.marks(rec.Stream())
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if b.current.Load().(State) != StateSpooling {
		queued, err := b.w.TryWriteWithin(rec, b.cfg.SpoolAfter)
		if err != nil {
			return err
		}
		if queued {
			b.kept(sm, rec)
			return nil
		}
		b.startSpooling()
	}
	// A replay that finds the spool empty may switch to memory while this
	// record is appended; it is then replayed on the signal below.
	err := b.sp.Append(rec)
	b.reportLost()
	if err == nil {
		b.spooled.Add(1)
		b.kept(sm, rec)
		b.signal()
		return nil
	}
	if errors.Is(err, ErrUnsupported) {
		return err
	}
	b.drop(sm, rec, err)
	return nil
}

// startSpooling sends new records to the spool.
func (b *Buffer) startSpooling() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == StateSpooling {
		return
	}
	b.setLocked(StateSpooling)
	b.log.Warn("spool: the store's queue is full (database down or slow); spooling records to disk",
		zap.String("dir", b.sp.cfg.Dir))
}

// marks returns the marks of stream s.
func (b *Buffer) marks(s market.Stream) *streamMarks { return b.streams.get(s) }

// streamTable holds the marks of each stream, made on first use. A
// lookup of a stream in its read map takes no lock; a stream not there
// yet is found under the mutex, and the read map is rebuilt from all once
// the lookups that missed it are as many as the streams it lacks or more,
// so that rebuilding costs O(1) per stream added. (sync.Map hashes its
// keys through reflection: several times as long for a market.Stream.)
type streamTable struct {
	// read is never modified once stored; nil until the first rebuild.
	read atomic.Pointer[map[market.Stream]*streamMarks]

	mu     sync.Mutex // guards the fields below
	all    map[market.Stream]*streamMarks
	misses int
}

// get returns the marks of s, making them on first use.
func (t *streamTable) get(s market.Stream) *streamMarks {
	if m := t.read.Load(); m != nil {
		if sm, ok := (*m)[s]; ok {
			return sm
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	sm := t.all[s]
	if sm == nil {
		if t.all == nil {
			t.all = map[market.Stream]*streamMarks{}
		}
		sm = &streamMarks{}
		t.all[s] = sm
	}
	t.misses++
	read := 0
	if m := t.read.Load(); m != nil {
		read = len(*m)
	}
	if t.misses >= len(t.all)-read {
		m := make(map[market.Stream]*streamMarks, len(t.all))
		for k, v := range t.all {
			m[k] = v
		}
		t.read.Store(&m)
		t.misses = 0
	}
	return sm
}

// each calls fn with every stream made so far and its marks.
func (t *streamTable) each(fn func(market.Stream, *streamMarks)) {
	t.mu.Lock()
	all := make(map[market.Stream]*streamMarks, len(t.all))
	for s, sm := range t.all {
		all[s] = sm
	}
	t.mu.Unlock()
	for s, sm := range all {
		fn(s, sm)
	}
}

// Reject hands rej to the writer's rejects queue without blocking; when
// that queue is full the reject is counted and dropped.
func (b *Buffer) Reject(_ context.Context, rej market.Reject) error {
	return b.w.TryReject(rej)
}

func markOf(rec market.Record) mark {
	m := mark{t: rec.Header().Time}
	if t, ok := rec.(*market.Trade); ok {
		m.id, _ = t.NumericID()
	}
	return m
}

// kept notes that rec was kept and closes its stream's hole, if any. The
// caller holds sm.mu.
func (b *Buffer) kept(sm *streamMarks, rec market.Record) {
	m := markOf(rec)
	if h := sm.open; h != nil {
		sm.open = nil
		b.report(rec.Stream(), h, m)
	}
	sm.lastKept, sm.haveKept = m, true
}

// drop counts rec as dropped and opens or extends its stream's hole. The
// caller holds sm.mu.
func (b *Buffer) drop(sm *streamMarks, rec market.Record, cause error) {
	b.dropped.Add(1)
	if !fetchable(rec) {
		// A candle still forming: the update that closes it opens the
		// hole if it is dropped too.
		return
	}
	m := markOf(rec)
	h := sm.open
	if h == nil {
		h = &hole{from: sm.lastKept, haveFrom: sm.haveKept, first: m, minT: m.t, maxT: m.t, reason: market.GapSpoolFull}
		if !errors.Is(cause, ErrFull) {
			h.reason = market.GapSpoolError
		}
		sm.open = h
		b.log.Error("spool: record dropped; the window is reported as a gap once the stream's records are kept again",
			zap.Stringer("stream", rec.Stream()), zap.Error(cause))
	}
	h.last = m
	h.n++
	if m.t.Before(h.minT) {
		h.minT = m.t
	}
	if m.t.After(h.maxT) {
		h.maxT = m.t
	}
}

// report reports hole h of stream s, closed by the record at next
// (or, at shutdown, by nothing: next is zero). The window covers every
// dropped record: From is the last record kept before (or just before the
// first dropped one), To the first kept after (or just after the last
// dropped one).
func (b *Buffer) report(s market.Stream, h *hole, next mark) {
	g := market.Gap{Stream: s, Reason: h.reason, Detected: b.cfg.Now().UTC()}
	g.From = h.from.t
	if !h.haveFrom || !h.minT.After(g.From) {
		g.From = h.minT.Add(-gapMargin)
	}
	g.To = next.t
	if next.t.IsZero() || !h.maxT.Before(g.To) {
		g.To = h.maxT.Add(gapMargin)
	}
	after, before := h.from.id, next.id
	if !h.haveFrom || after <= 0 || (h.first.id > 0 && after >= h.first.id) {
		after = max(h.first.id-1, 0)
	}
	if before <= 0 || before <= h.last.id {
		before = 0
		if h.last.id > 0 {
			before = h.last.id + 1
		}
	}
	if h.first.id > 0 && h.last.id > 0 && after > 0 && before > 0 {
		g.AfterID, g.BeforeID = after, before
	}
	b.gaps.Add(1)
	b.log.Warn("spool: records dropped while the spool was full; gap recorded",
		zap.Stringer("gap", g), zap.Uint64("dropped", h.n))
	if b.cfg.Gaps != nil {
		b.cfg.Gaps.RecordGap(g)
	}
}

// gapMargin widens a window of records into a gap whose bounds exclude
// none of them: a gap's From and To are exclusive, and the gaps table
// keeps microseconds, so a margin of a nanosecond would be cut off there
// and the backfill would leave out the record at the window's end.
const gapMargin = time.Microsecond

// reportLost reports the records a failed disk write lost after Append had
// taken them (the write buffer's, when the disk is full or failing): for
// each stream, the window of those records is a gap with reason
// market.GapSpoolError, as for the records Append refused.
func (b *Buffer) reportLost() {
	lost := b.sp.takeLost()
	if len(lost) == 0 {
		return
	}
	streams := make([]market.Stream, 0, len(lost))
	for s := range lost {
		streams = append(streams, s)
	}
	slices.SortFunc(streams, func(x, y market.Stream) int { return lost[x].From.Compare(lost[y].From) })
	for _, s := range streams {
		w := lost[s]
		g := market.Gap{Stream: s, From: w.From.Add(-gapMargin), To: w.To.Add(gapMargin),
			Reason: market.GapSpoolError, Detected: b.cfg.Now().UTC()}
		b.gaps.Add(1)
		b.log.Warn("spool: spooled records lost to a failed disk write; gap recorded", zap.Stringer("gap", g))
		if b.cfg.Gaps != nil {
			b.cfg.Gaps.RecordGap(g)
		}
	}
}

// Run runs the writer and the replay until ctx ends, then lets the writer
// drain (rows it cannot store by its deadline are spilled to the spool),
// reports the gaps still open, and syncs and closes the spool.
func (b *Buffer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	var writerErr error
	wg.Go(func() { writerErr = b.w.Run(ctx) })
	wg.Go(func() { b.flushEvery(ctx) })
	replayErr := b.replay(ctx)
	wg.Wait()

	b.streams.each(func(s market.Stream, sm *streamMarks) {
		sm.mu.Lock()
		if h := sm.open; h != nil {
			sm.open = nil
			b.report(s, h, mark{})
		}
		sm.mu.Unlock()
	})
	closeErr := b.sp.Close()
	b.reportLost()
	if u := b.sp.Usage(); u.Bytes > 0 {
		b.log.Info("spool: records kept on disk for the next start",
			zap.Int64("bytes", u.Bytes), zap.Int("segments", u.Segments))
	}
	return errors.Join(writerErr, replayErr, closeErr)
}

// flushEvery writes buffered records to the active segment every
// FlushDelay and, under FsyncInterval, fsyncs it every
// Config.FsyncInterval, until ctx ends.
func (b *Buffer) flushEvery(ctx context.Context) {
	t := time.NewTicker(FlushDelay)
	defer t.Stop()
	var lastSync time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var err error
			if b.sp.cfg.Fsync == FsyncInterval && now.Sub(lastSync) >= b.sp.cfg.FsyncInterval {
				lastSync = now
				err = b.sp.Sync()
			} else {
				err = b.sp.Flush()
			}
			if err != nil {
				b.log.Error("spool: write out", zap.Error(err))
			}
			b.reportLost()
		}
	}
}

// replay replays the spool, oldest segment first, whenever it holds
// records, until ctx ends. A segment is deleted once every row of it is
// committed; a segment whose replay is cut short stays for the next run.
func (b *Buffer) replay(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.wake:
		}
		if u := b.sp.Usage(); u.Bytes > 0 {
			b.log.Info("spool: replaying spooled records", zap.Int64("bytes", u.Bytes), zap.Int("segments", u.Segments))
		}
		for {
			no, ok, err := b.next()
			if err != nil {
				b.log.Error("spool: seal segment", zap.Error(err))
			}
			b.reportLost()
			if !ok {
				b.noteReplayed()
				break
			}
			err = b.replaySegment(ctx, no)
			b.noteReplayed()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				// The segment stays; it is tried again after a pause (and
				// at the next start if this run ends first).
				b.log.Error("spool: replay", zap.Error(err))
				if err := pause(ctx, time.Second); err != nil {
					return nil
				}
				b.signal() // try it again
				break
			}
		}
	}
}

// next returns the oldest segment to replay. When only the active segment
// holds records it is sealed, and new records go to memory again while it
// is replayed. ok is false when the spool is empty (new records then go to
// memory).
func (b *Buffer) next() (no int, ok bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	no, ok, err = b.sp.oldest(false)
	if ok {
		return no, true, nil
	}
	no, ok, err = b.sp.oldest(true)
	if !ok {
		if b.state != StateMemory {
			b.log.Info("spool: replay caught up; records go to memory again")
		}
		b.setLocked(StateMemory)
		return 0, false, err
	}
	b.setLocked(StateReplaying)
	return no, true, err
}

// replaySegment hands every record of segment no to the writer (blocking
// while its queue is full), waits until they are committed, then deletes
// the segment.
func (b *Buffer) replaySegment(ctx context.Context, no int) error {
	data, err := b.sp.read(no)
	if err != nil {
		// A segment that cannot be read would hold the replay back for
		// good: it is set aside, and the records after it replayed; its
		// streams' windows are reported as gaps.
		idx, ierr := b.sp.readIndex(no)
		if aerr := b.sp.setAside(no); aerr != nil {
			return errors.Join(err, aerr)
		}
		b.unreadable.Add(1)
		b.log.Error("spool: segment cannot be read; set aside (renamed .unreadable when it exists), its records not replayed",
			zap.Int("segment", no), zap.Error(err))
		b.reportCorrupt(no, idx, ierr)
		return nil
	}
	var writeErr error
	res := scanFrames(data, func(payload []byte) bool {
		if writeErr != nil {
			return true
		}
		rec, err := decode(payload)
		if err != nil {
			return false
		}
		if sr, ok := rec.(*spilledReject); ok {
			if err := b.w.TryReject(sr.rej); err != nil {
				writeErr = err
			}
			return true
		}
		if b.cfg.Validate != nil {
			if rej, bad := b.cfg.Validate(rec); bad {
				b.replayRejected.Add(1)
				if err := b.w.TryReject(rej); err != nil {
					writeErr = err
				}
				return true
			}
		}
		if err := b.w.Write(ctx, rec); err != nil {
			writeErr = err
		}
		return true
	})
	if writeErr != nil {
		return fmt.Errorf("replay spool segment %d: %w", no, writeErr)
	}
	if err := b.w.Sync(ctx); err != nil {
		return fmt.Errorf("replay spool segment %d: wait for commit: %w", no, err)
	}
	if res.Corrupt > 0 || res.Torn {
		b.log.Error("spool: damaged records skipped", zap.Int("segment", no),
			zap.Int("corrupt", res.Corrupt), zap.Bool("torn_tail", res.Torn))
		idx, ierr := b.sp.readIndex(no)
		b.reportCorrupt(no, idx, ierr)
	}
	b.corrupt.Add(uint64(res.Corrupt))
	b.replayed.Add(uint64(res.Records))
	if err := b.sp.remove(no); err != nil {
		return err
	}
	u := b.sp.Usage()
	b.log.Info("spool: segment replayed", zap.Int("segment", no), zap.Int("records", res.Records),
		zap.Int64("bytes_left", u.Bytes), zap.Int("segments_left", u.Segments))
	return nil
}

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

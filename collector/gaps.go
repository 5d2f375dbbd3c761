package collector

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

// GapRecorder takes gaps found in a stream. RecordGap must not block (it queues).
type GapRecorder interface{ RecordGap(g market.Gap) }

// TradeIDRule is implemented by a Protocol that says how its exchange
// numbers trades. A Protocol that does not implement it, or whose
// SequentialTradeIDs is false, gets gap detection by time only: a
// reconnect or a restart opens a window from the last record to the first
// new one.
type TradeIDRule interface {
	// SequentialTradeIDs reports whether the exchange numbers each
	// symbol's trades one by one with decimal integer ids (1, 2, 3, ...),
	// so that a skipped id is a lost trade. A Trade with Aggregates n > 1
	// covers the ids TradeID-n+1 to TradeID.
	SequentialTradeIDs() bool
}

// Last is the last record of a stream known to be held: where gap
// detection resumes after a restart.
type Last struct {
	// Time is the record's exchange time: a trade's execution time, a
	// closed candle's open time.
	Time time.Time
	// TradeID is the trade's id when it is a decimal integer, else 0.
	TradeID int64
}

// ResumeFunc returns the last stored record of each of streams that has
// one (a stream with none is left out). It is called by Collector.Run,
// before dialling, for the streams whose position is not known yet; after
// an error (or a timeout) it is called again with backoff until it
// succeeds, while the streams are collected: their first records are kept
// aside and compared with the stored ones once known.
type ResumeFunc func(ctx context.Context, streams []market.Stream) (map[market.Stream]Last, error)

// Positions keeps, for gap detection, the last record delivered of each
// stream. One Positions shared by the collectors a process builds one
// after the other (the supervisor's restarts) makes a restarted collector
// resume detection where the previous one stopped. Safe for concurrent use.
type Positions struct {
	// seq hands out collector run and session numbers; 0 is never handed out.
	seq atomic.Uint64

	mu       sync.Mutex // guards byStream
	byStream map[market.Stream]*position
}

// NewPositions returns an empty Positions.
func NewPositions() *Positions {
	return &Positions{byStream: map[market.Stream]*position{}}
}

// Seed sets the position of each stream of last that has not delivered a
// record yet, as restored from storage: the first record of such a stream
// is compared with it and a hole is reported as a GapRestart.
func (ps *Positions) Seed(last map[market.Stream]Last) {
	for s, l := range last {
		p := ps.get(s)
		p.mu.Lock()
		if !p.known {
			p.known, p.time, p.id, p.sid, p.run, p.session = true, l.Time, l.TradeID, "", 0, 0
			if l.TradeID > 0 {
				p.sid = strconv.FormatInt(l.TradeID, 10)
			}
		}
		p.resumed = true
		p.mu.Unlock()
	}
}

// Last returns the position of s, and whether one is known.
func (ps *Positions) Last(s market.Stream) (Last, bool) {
	p := ps.get(s)
	p.mu.Lock()
	defer p.mu.Unlock()
	return Last{Time: p.time, TradeID: p.id}, p.known
}

func (ps *Positions) next() uint64 { return ps.seq.Add(1) }

// get returns the position of s, creating it.
func (ps *Positions) get(s market.Stream) *position {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byStream[s]
	if p == nil {
		p = &position{}
		ps.byStream[s] = p
	}
	return p
}

// unresumed returns those of streams that were not found in storage yet
// and either delivered no record or are awaiting storage.
func (ps *Positions) unresumed(streams []market.Stream) []market.Stream {
	var out []market.Stream
	for _, s := range streams {
		p := ps.get(s)
		p.mu.Lock()
		if !p.resumed && (!p.known || p.awaiting) {
			out = append(out, s)
		}
		p.mu.Unlock()
	}
	return out
}

// await marks streams as awaiting storage: until their stored end is
// known, the first record each delivers is kept aside, to be compared
// with it.
func (ps *Positions) await(streams []market.Stream) {
	for _, s := range streams {
		p := ps.get(s)
		p.mu.Lock()
		if !p.resumed {
			p.awaiting = true
		}
		p.mu.Unlock()
	}
}

// position is one stream's last delivered record.
type position struct {
	mu sync.Mutex // guards the fields below
	// known is true once time (and id) hold a record.
	known bool
	time  time.Time
	// id is the last trade id when ids are sequential integers that fit
	// an int64, else 0; sid is that trade id as sent whenever ids are
	// sequential decimal integers, of any length, else "" (longer ids are
	// compared as decimal strings, so continuity is checked for them too).
	id  int64
	sid string
	// run and session are the numbers of the collector run and the
	// connection session that delivered the record; both 0 when it was
	// restored from storage.
	run, session uint64
	// resumed is true once storage answered for the stream.
	resumed bool
	// delivered is the number of the last collector run that delivered a
	// candle of the stream (forming or closed, in order or not): until the
	// current run has, the trades of its symbol show which of its candles
	// closed (see silentCandles).
	delivered uint64
	// awaiting is true while storage is asked for the stream's end
	// without an answer yet; first holds the first record delivered
	// meanwhile (hasFirst), whose continuity with the stored end is
	// checked once storage answers.
	awaiting bool
	hasFirst bool
	first    firstRecord
}

// firstRecord is the first record a stream delivered while its stored end
// was not known.
type firstRecord struct {
	time time.Time
	// lowID is the lowest trade id the record covers (TradeID-n+1 for an
	// aggregate of n), 0 when ids are not sequential or beyond int64.
	lowID int64
	// tf is a closed candle's timeframe, empty for a trade.
	tf market.Timeframe
}

// reason says why a hole opened before a record of collector run run and
// session session: the collector (re)started, the connection was redialled,
// or neither (then within).
func (p *position) reason(run, session uint64, within market.GapReason) market.GapReason {
	switch {
	case p.run != run:
		return market.GapRestart
	case p.session != session:
		return market.GapDisconnect
	}
	return within
}

// continuity checks that rec, just handed on by session, follows its
// stream's last record, moves the position on, and returns the gap in
// between when there is one. It takes only p's lock and allocates nothing.
func (r *router) continuity(p *position, rec market.Record, session uint64) (market.Gap, bool) {
	switch v := rec.(type) {
	case *market.Trade:
		return r.tradeContinuity(p, v, session)
	case *market.Candle:
		if !v.Closed {
			return r.formingContinuity(p, v, session)
		}
		return r.candleContinuity(p, v, session)
	}
	return market.Gap{}, false
}

func (r *router) tradeContinuity(p *position, t *market.Trade, session uint64) (market.Gap, bool) {
	var id int64
	var sid string
	if r.seqIDs {
		var ok bool
		if id, ok = t.NumericID(); ok || market.DecimalTradeID(t.TradeID) {
			sid = t.TradeID // id is 0 for one beyond 18 digits
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g, found := market.Gap{}, false
	switch {
	case p.known && sid != "" && p.sid != "":
		// Ids that both fit int64 are compared as numbers; others as
		// decimal text of any length, with the same outcome.
		var after bool
		var dist uint64
		if id > 0 && p.id > 0 {
			after, dist = id > p.id, uint64(id-p.id)
		} else {
			after = market.CompareTradeIDs(sid, p.sid) > 0
			if after {
				dist = market.TradeIDDistance(p.sid, sid)
			}
		}
		if !after {
			// Out of order or resent beyond the dedup window: no hole, and
			// the position stays at the greatest id.
			r.st.outOfOrder(t.Stream())
			return market.Gap{}, false
		}
		n := uint64(max(t.Aggregates, 1))
		if dist > n {
			g = market.Gap{From: p.time, To: t.Time, Reason: p.reason(r.run, session, market.GapTradeIDJump)}
			if id > 0 && p.id > 0 {
				// Bounded by ids too when both fit the gaps table's bigint.
				g.AfterID, g.BeforeID = p.id, id-int64(n)+1
			}
			found = true
		}
	case p.known && (p.run != r.run || p.session != session):
		// No ids to compare: a restart or a reconnect may have lost
		// anything published in between.
		g = market.Gap{From: p.time, To: t.Time, Reason: p.reason(r.run, session, market.GapDisconnect)}
		found = true
	}
	if p.awaiting && !p.hasFirst {
		p.hasFirst, p.first = true, firstRecord{time: t.Time}
		if id > 0 {
			p.first.lowID = id - int64(max(t.Aggregates, 1)) + 1
		}
	}
	p.known, p.time, p.id, p.sid, p.run, p.session = true, t.Time, id, sid, r.run, session
	if found {
		g.Stream = t.Stream()
		if g.To.Before(g.From) {
			g.To = g.From
		}
	}
	return g, found
}

func (r *router) candleContinuity(p *position, cd *market.Candle, session uint64) (market.Gap, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delivered = r.run
	g, found := market.Gap{}, false
	if p.known {
		if !cd.Time.After(p.time) {
			return market.Gap{}, false
		}
		if cd.Time.After(p.time.Add(cd.Timeframe.Duration())) {
			g = market.Gap{Stream: cd.Stream(), From: p.time, To: cd.Time,
				Reason: p.reason(r.run, session, market.GapCandleMissing)}
			found = true
		}
	}
	if p.awaiting && !p.hasFirst {
		p.hasFirst, p.first = true, firstRecord{time: cd.Time, tf: cd.Timeframe}
	}
	p.known, p.time, p.id, p.sid, p.run, p.session = true, cd.Time, 0, "", r.run, session
	return g, found
}

// formingContinuity takes a forming candle of p's stream, read by session.
// A candle opening at t shows that every bucket before t has closed on the
// exchange, so the first candle a run or a session delivers, forming or
// closed, tells whether candles were missed while the stream was not
// collected (the collector was stopped, or moved to another instance, or
// the connection was down): the hole is a gap at once, rather than when
// the first closed candle arrives, up to a whole timeframe later, or never
// when the collector stops again first. The position then stands at the
// bucket before t, which the gap covers. Later forming candles of the
// session change nothing: its closed candles carry continuity.
func (r *router) formingContinuity(p *position, cd *market.Candle, session uint64) (market.Gap, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delivered = r.run
	tf := cd.Timeframe.Duration()
	if p.awaiting && !p.hasFirst {
		// settle compares it with the stored end as it would a closed
		// candle: the buckets before it are missing when it opens more
		// than a timeframe after the stored one.
		p.hasFirst, p.first = true, firstRecord{time: cd.Time, tf: cd.Timeframe}
	}
	if !p.known {
		// Nothing known before it (or settle will compare it with the
		// stored end): continuity goes on from the bucket before it.
		p.known, p.time, p.id, p.sid, p.run, p.session = true, cd.Time.Add(-tf), 0, "", r.run, session
		return market.Gap{}, false
	}
	if p.run == r.run && p.session == session {
		return market.Gap{}, false
	}
	g, found := market.Gap{}, false
	if cd.Time.After(p.time.Add(tf)) {
		g = market.Gap{Stream: cd.Stream(), From: p.time, To: cd.Time, Reason: p.reason(r.run, session, market.GapCandleMissing)}
		found = true
		p.time = cd.Time.Add(-tf)
	}
	p.run, p.session = r.run, session
	return g, found
}

// silentCandles takes a trade just handed on. A trade at t shows that every
// bucket before the one holding t has closed on the exchange: for each
// received (not built) candle stream of the trade's symbol that has
// delivered no candle since the collector started, the buckets from its
// last known candle up to that one are recorded as a gap, and its position
// moves on to the last of them. Without it, a candle stream whose
// connection delivers nothing while the trades flow (still dialling when
// the exchange goes quiet, or subscribed but silent) would leave the
// candles since the collector took over neither stored nor in a gap.
func (r *router) silentCandles(t *market.Trade) {
	for _, cs := range r.current().candles[t.Symbol] {
		if g, found := r.closedBefore(cs.pos, cs.stream, t.Time); found {
			r.recordGap(g)
		}
	}
}

// closedBefore returns the gap of candle stream s from its position up to
// the bucket holding at, when s has delivered no candle in this run and
// that leaves buckets out, and moves the position to the bucket before
// at's. A stream whose stored end is being asked for is left alone: its
// first record settles it.
func (r *router) closedBefore(p *position, s market.Stream, at time.Time) (market.Gap, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A stream that delivered in this run (the usual case, once per
	// trade) is settled before its bucket is worked out.
	if !p.known || p.awaiting || p.delivered == r.run {
		return market.Gap{}, false
	}
	tf := s.Timeframe.Duration()
	end := s.Timeframe.Truncate(at)
	if !end.After(p.time.Add(tf)) {
		return market.Gap{}, false
	}
	g := market.Gap{Stream: s, From: p.time, To: end, Reason: market.GapRestart}
	p.time = end.Add(-tf)
	return g, true
}

// recordGap counts, logs and passes on a gap found in a stream.
func (r *router) recordGap(g market.Gap) {
	g.Detected = r.now().UTC()
	r.st.gap(g.Stream)
	r.log.Warn("gap in stream", zap.String("gap", g.String()), zap.String("stream", g.Stream.String()),
		zap.String("reason", string(g.Reason)))
	if r.gaps != nil {
		r.gaps.RecordGap(g)
	}
	if g.Stream.Type == market.TypeTrade {
		for _, cg := range builtCandleGaps(g, r.aggregators().timeframes(g.Stream.Symbol)) {
			r.recordGap(cg)
		}
	}
}

// builtCandleGaps returns, for a gap in the trades of a symbol whose
// candles are built from trades, the candle gaps it makes: the candles of
// the buckets from the one holding the last trade kept (built from part
// of its trades, or never closed when the process stopped) to the last
// one before the bucket of the first trade after the hole (that one, and
// any bucket trades arrived in, is built and then compared with the
// exchange's candle by reconciliation). A bucket without trades has no
// candle on the exchange either.
func builtCandleGaps(g market.Gap, tfs []market.Timeframe) []market.Gap {
	var out []market.Gap
	for _, tf := range tfs {
		first, end := tf.Truncate(g.From), tf.Truncate(g.To)
		if !end.After(first) {
			continue
		}
		cg := g
		cg.Stream = market.Stream{Exchange: g.Stream.Exchange, Symbol: g.Stream.Symbol, Type: market.TypeCandle, Timeframe: tf}
		cg.From, cg.To = first.Add(-time.Nanosecond), end
		cg.AfterID, cg.BeforeID = 0, 0
		out = append(out, cg)
	}
	return out
}

// last returns the time of the stream's last record and whether one is known.
func (p *position) last() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.time, p.known
}

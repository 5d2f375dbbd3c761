package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

// router routes what a connection decoded, knowing nothing of sockets: it
// notes acknowledgements and exchange refusals, drops duplicates, builds
// candles from trades, hands the records of wanted streams to the sink in
// the order they came, checks each one for a gap since its stream's last
// record, schedules closed candles for reconciliation, and keeps the
// frames that could not be decoded. A session feeds it one Event per frame;
// its methods may be called from several sessions at once.
type router struct {
	exchange market.Exchange
	sink     Sink
	// stamped is sink when it is a StampedSink and the collector stamps
	// frames with the wall clock, else nil: the records read from frames
	// go to its AcceptAfter with their frame's reading.
	stamped StampedSink
	st      *tracker
	dedup   *dedup
	log     *zap.Logger
	now     func() time.Time
	// gaps receives the gaps found; nil: they are only logged and counted.
	gaps GapRecorder
	// run is the collector's number in its Positions, seqIDs whether the
	// exchange numbers trades one by one: both drive gap detection.
	run    uint64
	seqIDs bool
	// skew measures the exchange's clock from the trades received; nil:
	// not measured.
	skew *ClockSkew
	// reconcile schedules a closed candle for comparison with the
	// exchange's; nil: none.
	reconcile func(*market.Candle)
	// held, set for a private (balance) collector, keeps the balances
	// delivered, for the REST comparisons; such a collector never keeps a
	// raw frame (one may carry a key or a signature).
	held *heldBalances
	// forming holds each stream's forming candle when the exchange closes
	// candles only by sending a later one (CandleCloseRule); nil otherwise.
	forming *forming

	// routes is what the record path reads of the fields below, replaced
	// whole by setRoutes, so that a record takes no lock to find its
	// stream's position and the aggregators.
	routes atomic.Pointer[routes]

	mu sync.Mutex // guards the fields below
	// wanted are the streams to hand on, keyed by Stream.String().
	wanted map[string]market.Stream
	// tracked holds the gap detection position of each wanted stream.
	tracked map[market.Stream]*position
	// agg builds the candles planned as aggregated from trades.
	agg *aggregators
}

// setRoutes replaces the wanted streams, their gap detection positions and
// the candle aggregators (agg is merged with the current ones, keeping the
// candles being built).
func (r *router) setRoutes(wanted map[string]market.Stream, tracked map[market.Stream]*position, agg *aggregators) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wanted = wanted
	r.tracked = tracked
	r.agg = r.agg.replace(agg)
	streams := make(map[market.Symbol][]symbolRoute, len(tracked))
	for s, p := range tracked {
		streams[s.Symbol] = append(streams[s.Symbol], symbolRoute{stream: s, route: &streamRoute{pos: p, stat: r.st.stat(s), dup: r.dedup.stream(s)}})
	}
	r.routes.Store(&routes{streams: streams, agg: r.agg, candles: receivedCandles(tracked, r.agg)})
}

// routes are the wanted streams (a stream is wanted when it has an entry)
// and the candle aggregators, as set last; never modified once stored.
type routes struct {
	// streams holds the wanted streams by symbol (see lookup).
	streams map[market.Symbol][]symbolRoute
	agg     *aggregators
	// candles are, by symbol, the wanted candle streams received from the
	// exchange (not built from trades), with their positions.
	candles map[market.Symbol][]candleRoute
}

// candleRoute is a wanted candle stream and its gap detection position.
type candleRoute struct {
	stream market.Stream
	pos    *position
}

// receivedCandles returns, by symbol, the candle streams of tracked that
// agg does not build from trades.
func receivedCandles(tracked map[market.Stream]*position, agg *aggregators) map[market.Symbol][]candleRoute {
	out := map[market.Symbol][]candleRoute{}
	for s, p := range tracked {
		if s.Type != market.TypeCandle || slices.Contains(agg.timeframes(s.Symbol), s.Timeframe) {
			continue
		}
		out[s.Symbol] = append(out[s.Symbol], candleRoute{stream: s, pos: p})
	}
	return out
}

// symbolRoute is a wanted stream and its route.
type symbolRoute struct {
	stream market.Stream
	route  *streamRoute
}

// lookup returns the route of s, nil when s is not wanted. The streams
// are kept by symbol, a few to each: hashing a symbol and comparing a
// few short strings costs less than hashing a whole market.Stream, once
// per record.
func (rt *routes) lookup(s market.Stream) *streamRoute {
	for _, e := range rt.streams[s.Symbol] {
		if e.stream == s {
			return e.route
		}
	}
	return nil
}

// streamRoute is what the record path uses of one wanted stream, found
// with one look-up per record.
type streamRoute struct {
	// pos is the stream's gap detection position.
	pos *position
	// stat is the stream's status entry in the tracker; nil when the
	// tracker did not list the stream when the routes were set.
	stat *StreamStatus
	// dup is what the stream handed on, for deduplication.
	dup *dedupStream
}

// current returns the routes set last (empty before the first).
func (r *router) current() *routes {
	if rt := r.routes.Load(); rt != nil {
		return rt
	}
	return &routes{}
}

// streams returns the wanted streams, sorted.
func (r *router) streams() []market.Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]market.Stream, 0, len(r.wanted))
	for _, s := range r.wanted {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func (r *router) isWanted(s market.Stream) bool {
	return r.current().lookup(s) != nil
}

// wantedRoute returns the route of s, nil when s is not wanted.
func (r *router) wantedRoute(s market.Stream) *streamRoute {
	return r.current().lookup(s)
}

func (r *router) aggregators() *aggregators { return r.current().agg }

// route handles the Event decoded from one frame of the connection key,
// received at received, read by session (its number in Positions). It
// returns only ctx's error, when ctx ended while the sink was full.
func (r *router) route(ctx context.Context, key string, ev *Event, received time.Time, session uint64) error {
	if ev.Err != nil {
		r.exchangeError(key, ev.Err)
	}
	if len(ev.Acked) > 0 {
		r.st.subscribed(ev.Acked)
	}
	if ev.Heartbeat && !ev.HeartbeatTime.IsZero() {
		if agg := r.aggregators(); agg != nil {
			for _, cd := range agg.advance(ev.HeartbeatStream.Symbol, ev.HeartbeatTime, received) {
				if err := r.emitBuilt(ctx, cd, received); err != nil {
					return err
				}
			}
		}
	}
	for _, rec := range ev.Records {
		if cd, ok := rec.(*market.Candle); ok && r.forming != nil && !cd.Closed {
			if prev := r.forming.next(cd); prev != nil {
				if err := r.handle(ctx, prev, received, session); err != nil {
					return err
				}
			}
		}
		if err := r.handle(ctx, rec, received, session); err != nil {
			return err
		}
	}
	return nil
}

// handle passes one decoded record on. Duplicates (seen again after a
// reconnect or during a rollover) are dropped first, so that they are
// neither stored twice nor folded twice into a candle; trades then feed the
// candle aggregators; records of streams that are not wanted are dropped;
// the others are checked for gaps once handed on.
func (r *router) handle(ctx context.Context, rec market.Record, received time.Time, session uint64) error {
	rt := r.current()
	s := routeStream(rec)
	sr := rt.lookup(s)
	// Deduplication goes by the wanted stream's entry, or else by the
	// record's own stream (which differs from s only for a balance, which
	// it leaves alone).
	var dup *dedupStream
	ds := s
	if sr != nil {
		dup = sr.dup
	} else {
		ds = rec.Stream()
	}
	if r.dedup.seenIn(dup, ds, rec) {
		r.st.duplicate()
		return nil
	}
	if t, ok := rec.(*market.Trade); ok && rt.agg != nil {
		for _, cd := range rt.agg.add(t) {
			if err := r.emitBuilt(ctx, cd, received); err != nil {
				return err
			}
		}
	}
	return r.deliverTo(ctx, sr, s, rec, received, session)
}

// emitBuilt delivers a candle built here from trades unless it is a
// duplicate, and schedules a closed one for reconciliation. Built candles
// are not checked for gaps: a bucket without trades has no candle, and the
// trades they are built from are checked by their own stream when wanted.
func (r *router) emitBuilt(ctx context.Context, rec market.Record, received time.Time) error {
	if r.dedup.seen(rec.Stream(), rec) {
		r.st.duplicate()
		return nil
	}
	if err := r.deliver(ctx, rec, received, 0); err != nil {
		return err
	}
	if cd, ok := rec.(*market.Candle); ok && cd.Closed && r.isWanted(cd.Stream()) {
		r.enqueueReconcile(cd)
	}
	return nil
}

// deliver hands rec to the sink when its stream is wanted. A record read
// by session (non-zero) is then checked for a gap since its stream's last
// record, and a received closed candle is scheduled for reconciliation;
// records made here (session 0: built candles, corrections) are not.
func (r *router) deliver(ctx context.Context, rec market.Record, received time.Time, session uint64) error {
	s := routeStream(rec)
	return r.deliverTo(ctx, r.wantedRoute(s), s, rec, received, session)
}

// deliverTo is deliver with rec's route stream s and its route sr (nil:
// not wanted).
func (r *router) deliverTo(ctx context.Context, sr *streamRoute, s market.Stream, rec market.Record, received time.Time, session uint64) error {
	if sr == nil {
		return nil
	}
	pos := sr.pos
	if t, isTrade := rec.(*market.Trade); isTrade && session != 0 {
		r.skew.Observe(r.exchange, t.Time, received)
	}
	var err error
	if r.stamped != nil && session != 0 {
		// received is the frame's reading of the wall clock (read).
		err = r.stamped.AcceptAfter(ctx, rec, received)
	} else {
		err = r.sink.Accept(ctx, rec)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, market.ErrRejected) {
			if session != 0 {
				r.refused(pos, rec, session)
			}
			return nil
		}
		r.st.recordError(fmt.Errorf("hand on %s: %w", s, err), received)
		return nil
	}
	r.st.record(sr.stat, s, received)
	if b, isBalance := rec.(*market.Balance); isBalance && r.held != nil {
		r.held.set(b)
	}
	if session == 0 {
		return nil
	}
	if g, found := r.continuity(pos, rec, session); found {
		r.recordGap(g)
	}
	switch v := rec.(type) {
	case *market.Candle:
		if v.Closed {
			r.enqueueReconcile(v)
		}
	case *market.Trade:
		r.silentCandles(v)
	}
	return nil
}

// deliverQuiet hands to the sink a record that restates what was already
// handed on (an unchanged book's snapshot of its interval). It counts in
// the stream's records but leaves its freshness (LastData) alone: nothing
// new arrived from the exchange. It returns only ctx's error.
func (r *router) deliverQuiet(ctx context.Context, rec market.Record) error {
	s := routeStream(rec)
	if r.wantedRoute(s) == nil {
		return nil
	}
	if err := r.sink.Accept(ctx, rec); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, market.ErrRejected) {
			r.st.recordError(fmt.Errorf("hand on %s: %w", s, err), r.now())
		}
		return nil
	}
	r.st.recordQuiet(s)
	return nil
}

// refusedMargin widens the window of a refused trade's gap around its time:
// gaps hold records strictly inside their window, at the database's
// microsecond precision.
const refusedMargin = time.Millisecond

// refused records a GapRejected gap covering rec, a trade or closed candle
// that validation refused as it arrived, so that the backfill fetches it
// again: a refusal never moves continuity on without a gap. A trade's
// window starts at the stream's previous record, so that the gaps of
// refusals in a row overlap and are merged into one.
func (r *router) refused(p *position, rec market.Record, session uint64) {
	var g market.Gap
	switch v := rec.(type) {
	case *market.Trade:
		g = market.Gap{From: v.Time.Add(-refusedMargin), To: v.Time.Add(refusedMargin)}
		if last, known := p.last(); known && last.Before(g.From) {
			g.From = last
		}
		if id, ok := v.NumericID(); r.seqIDs && ok && id > 0 {
			g.AfterID, g.BeforeID = id-int64(max(v.Aggregates, 1)), id+1
		}
	case *market.Candle:
		if !v.Closed {
			return
		}
		tf := v.Timeframe.Duration()
		g = market.Gap{From: v.Time.Add(-tf), To: v.Time.Add(tf)}
	default:
		return
	}
	g.Stream, g.Reason = rec.Stream(), market.GapRejected
	// Continuity moves on past the refused record (a hole before it is a
	// gap of its own); the gap covers the record itself.
	if cg, found := r.continuity(p, rec, session); found {
		r.recordGap(cg)
	}
	r.recordGap(g)
}

func (r *router) enqueueReconcile(cd *market.Candle) {
	if r.reconcile != nil {
		r.reconcile(cd)
	}
}

// reject counts, logs once per reason and keeps a frame that could not be
// decoded. raw may be the reader's buffer, reused for the next frame: the
// reject keeps a copy.
func (r *router) reject(ctx context.Context, derr error, raw []byte, received time.Time) {
	if r.held != nil {
		raw = nil // a private frame is never kept raw
	}
	raw = bytes.Clone(raw)
	rej := market.Reject{Received: received, Exchange: r.exchange, Reason: "decode_error", Detail: derr.Error(), Raw: raw}
	var de *DecodeError
	if errors.As(derr, &de) {
		rej.Reason = de.Reason
		rej.Field = de.Field
		rej.Symbol = de.Stream.Symbol
		rej.Type = de.Stream.Type
	}
	r.st.reject()
	if kind := decodeAnomaly(derr); kind != "" {
		r.anomaly(kind, zap.String("reason", rej.Reason), zap.String("field", rej.Field))
	}
	if r.st.firstOfReason(rej.Reason) {
		r.log.Warn("frame rejected (logged once per reason; all are kept in rejects)",
			zap.String("reason", rej.Reason), zap.String("field", rej.Field), zap.String("detail", truncate(rej.Detail, 200)))
	} else {
		r.log.Debug("frame rejected", zap.String("reason", rej.Reason), zap.String("detail", truncate(rej.Detail, 200)))
	}
	if err := r.sink.Reject(ctx, rej); err != nil && ctx.Err() == nil {
		r.log.Warn("keep rejected frame", zap.Error(err))
	}
}

func (r *router) exchangeError(key string, ee *ExchangeError) {
	r.st.exchangeError(ee, r.now())
	r.exchangeAnomaly(ee)
	r.log.Warn("exchange refused a request", zap.String("conn", key), zap.String("code", ee.Code),
		zap.String("message", truncate(ee.Message, 300)), zap.String("stream", streamOrEmpty(ee.Stream)), zap.Bool("permanent", ee.Permanent))
}

func streamOrEmpty(s market.Stream) string {
	if s.Symbol == "" {
		return ""
	}
	return s.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

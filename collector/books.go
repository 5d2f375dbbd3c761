package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"marketetl/market"
)

// BookProtocol is implemented by a Protocol that decodes order book
// channels into Event.Books.
type BookProtocol interface {
	// BookSequencing says how the exchange numbers its book messages.
	BookSequencing() BookSequencing
}

// BookFetcher is implemented by a Protocol whose book streams start from
// a REST snapshot (Binance diff depth). The collector calls it when a
// book's keeper needs a snapshot, from a goroutine of the connection
// session, never concurrently for one stream.
type BookFetcher interface {
	// FetchBook makes one REST request for sym's book of at least depth
	// levels per side, returned as a snapshot BookMessage whose Seq is the
	// snapshot's last update id. Errors are those of History: a
	// *RetryAfterError, an error wrapping ErrPermanent, or a transient one.
	FetchBook(ctx context.Context, sym market.Symbol, depth int) (BookMessage, error)
}

// books holds the book keepers of a collector's order book streams and
// routes the adapters' book messages to them.
type books struct {
	cfg BookConfig
	seq BookSequencing
	// logEvery rate-limits the resync logs.
	logEvery *rate.Limiter

	mu      sync.Mutex // guards keepers
	keepers map[market.Stream]*bookKeeper
}

func newBooks(cfg BookConfig, proto Protocol) *books {
	cfg.applyDefaults()
	bs := &books{cfg: cfg, keepers: map[market.Stream]*bookKeeper{}, logEvery: rate.NewLimiter(rate.Every(10*time.Second), 5)}
	if bp, ok := proto.(BookProtocol); ok {
		bs.seq = bp.BookSequencing()
	}
	return bs
}

// keeper returns the keeper of s, made on first use.
func (bs *books) keeper(s market.Stream) *bookKeeper {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	k, ok := bs.keepers[s]
	if !ok {
		k = newBookKeeper(s, bs.seq, bs.cfg)
		bs.keepers[s] = k
	}
	return k
}

// status returns the status of every book stream, keyed by Stream.String().
func (bs *books) status() map[string]BookStatus {
	bs.mu.Lock()
	ks := make([]*bookKeeper, 0, len(bs.keepers))
	for _, k := range bs.keepers {
		ks = append(ks, k)
	}
	bs.mu.Unlock()
	out := make(map[string]BookStatus, len(ks))
	for _, k := range ks {
		out[k.stream.String()] = k.status()
	}
	return out
}

// BookStatus returns the state and counters of each order book stream,
// keyed by Stream.String().
func (c *Collector) BookStatus() map[string]BookStatus { return c.books.status() }

// routeBooks hands the book messages of ev, read by session on the
// connection key, to their keepers, and what they produce to the sink, the
// live feed, the gap recorder and, for a resync, to resync (non-blocking:
// one pending request per stream is enough). It returns only ctx's error.
func (c *Collector) routeBooks(ctx context.Context, ev *Event, received time.Time, session uint64, resync chan<- market.Stream) error {
	for i := range ev.Books {
		m := &ev.Books[i]
		s := market.Stream{Exchange: c.proto.Exchange(), Symbol: m.Symbol, Type: market.TypeOrderBook}
		if !c.route.isWanted(s) {
			continue
		}
		k := c.books.keeper(s)
		k.handing.Lock()
		out := k.handle(m, received, session)
		err := c.bookOutput(ctx, s, out, received)
		k.handing.Unlock()
		if err != nil {
			return err
		}
		if out.resync != nil {
			select {
			case resync <- s:
			default:
				k.resyncFailed()
			}
		}
	}
	return nil
}

// bookOutput delivers what a keeper produced.
func (c *Collector) bookOutput(ctx context.Context, s market.Stream, out bookOutput, received time.Time) error {
	if out.reject != nil {
		c.st.reject()
		if err := c.sink.Reject(ctx, *out.reject); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if out.resync != nil && !isNeedSnapshot(out.resync) && c.books.logEvery.Allow() {
		c.log.Warn("order book resync (rate-limited log; every resync is a book_resync gap)", zap.String("stream", s.String()), zap.Error(out.resync))
	}
	// The gap first: whoever sees the snapshot after a resync sees its gap.
	if out.gap != nil {
		c.route.recordGap(*out.gap)
	}
	for _, rec := range out.records {
		if out.quiet {
			if err := c.route.deliverQuiet(ctx, rec); err != nil {
				return err
			}
			continue
		}
		if err := c.route.deliver(ctx, rec, received, 0); err != nil {
			return err
		}
	}
	if out.live != nil && c.books.cfg.Live != nil {
		c.books.cfg.Live(out.live)
	}
	return nil
}

func isNeedSnapshot(err error) bool { return err == errNeedSnapshot }

// resubscribe sends, on the connection of plan key, an unsubscribe and a
// subscribe for a book stream whose local book was dropped: the exchange
// then sends a new snapshot, and the connection's other channels go on.
func (c *Collector) resubscribe(ctx context.Context, key string, s market.Stream, next func() uint64, w *writer) error {
	np, ok := c.plan(key)
	if !ok {
		return nil
	}
	un, err := c.proto.Unsubscribe(np, []market.Stream{s}, next())
	if err != nil {
		c.books.keeper(s).resyncFailed()
		return nil
	}
	sub, err := c.proto.Subscribe(np, []market.Stream{s}, next())
	if err != nil {
		c.books.keeper(s).resyncFailed()
		return nil
	}
	c.log.Debug("order book resubscribed", zap.String("conn", key), zap.String("stream", s.String()))
	return w.request(ctx, append(un, sub...)...)
}

// fetchBooks fetches the REST snapshots that the keepers of a ranged
// book stream ask for (sent on need), one at a time, and hands each to
// its keeper. After a failed request it waits (the exchange's Retry-After,
// or a doubling delay from fetchRetryMin) before the keeper may ask again.
func (c *Collector) fetchBooks(ctx context.Context, f BookFetcher, need chan market.Stream) error {
	wait := fetchRetryMin
	for {
		var s market.Stream
		select {
		case <-ctx.Done():
			return nil
		case s = <-need:
		}
		k := c.books.keeper(s)
		m, err := f.FetchBook(ctx, s.Symbol, c.books.cfg.Depth)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.st.recordError(fmt.Errorf("fetch book snapshot %s: %w", s, err), c.cfg.Now())
			d := wait
			var ra *RetryAfterError
			if errors.As(err, &ra) && ra.After > d {
				d = ra.After
			}
			wait = min(2*wait, fetchRetryMax)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			k.resyncFailed()
			continue
		}
		wait = fetchRetryMin
		m.Snapshot, m.Symbol = true, s.Symbol
		received := c.cfg.Now().UTC()
		k.handing.Lock()
		out := k.handle(&m, received, 0)
		err = c.bookOutput(ctx, s, out, received)
		k.handing.Unlock()
		if err != nil {
			return err
		}
		if out.resync != nil {
			// A stale snapshot: fetch again.
			select {
			case need <- s:
			default:
				k.resyncFailed()
			}
		}
	}
}

// frameInHand is what a session's reader holds, for the quiet book timer:
// no frame (0), a frame whose receipt time is being taken (-1), or a frame
// received at the time it holds (Unix nanoseconds), until it is routed.
type frameInHand struct{ v atomic.Int64 }

func (f *frameInHand) none()                { f.v.Store(0) }
func (f *frameInHand) stamping()            { f.v.Store(-1) }
func (f *frameInHand) stamped(at time.Time) { f.v.Store(at.UnixNano()) }
func (f *frameInHand) load() (int64, bool)  { v := f.v.Load(); return v, v != -1 }

// quietBooks hands on, for each order book of the connection key that the
// session follows and that had no message for an interval, a snapshot
// every BookConfig.Interval (so that a quiet book has one row per
// interval, as a busy one does). It waits, on the collector's clock
// (Config.Now), for the earliest book due, at most an interval; a
// session's books are restated only while that session runs.
//
// A quiet snapshot is received (Received) no later than every change
// applied after it, so that a book is rebuilt from a snapshot and the
// changes received since: the time is read under the book's handing lock,
// and when the reader holds a frame received before it (which may be about
// to change the book), the snapshot takes that frame's time instead.
func (c *Collector) quietBooks(ctx context.Context, key string, session uint64, inHand *frameInHand) error {
	every := c.books.cfg.Interval
	if every < MinQuietInterval {
		return nil
	}
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		wait := every
		if p, ok := c.plan(key); ok {
			for _, s := range p.Streams {
				if s.Type != market.TypeOrderBook || !c.route.isWanted(s) {
					continue
				}
				k := c.books.keeper(s)
				k.handing.Lock()
				now := c.cfg.Now().UTC()
				held, known := inHand.load()
				if !known {
					// The reader is taking a frame's time: soon known.
					k.handing.Unlock()
					wait = min(wait, quietRetry)
					continue
				}
				if held > 0 && held < now.UnixNano() {
					now = time.Unix(0, held).UTC()
				}
				out, next := k.quiet(now, session)
				err := c.bookOutput(ctx, s, out, now)
				k.handing.Unlock()
				if err != nil {
					return nil // ctx ended
				}
				if !next.IsZero() {
					wait = min(wait, max(next.Sub(now), quietRetry))
				}
			}
		}
		t.Reset(wait)
	}
}

// quietRetry is the shortest wait of the quiet snapshot timer.
const quietRetry = time.Millisecond

// The bounds of the delay between failed snapshot requests.
const (
	fetchRetryMin = 500 * time.Millisecond
	fetchRetryMax = 30 * time.Second
)

// checkDrift compares, every DriftCheck, the unsequenced books of the
// connection key with the exchange's REST book, and sends a book that
// drifted to resync (its keeper has dropped it and recorded the loss).
func (c *Collector) checkDrift(ctx context.Context, key string, f BookFetcher, resync chan<- market.Stream) error {
	t := time.NewTicker(c.books.cfg.DriftCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p, ok := c.plan(key)
		if !ok {
			continue
		}
		for _, s := range p.Streams {
			if s.Type != market.TypeOrderBook {
				continue
			}
			if err := c.checkBookDrift(ctx, s, f, resync); err != nil {
				return nil // ctx ended
			}
		}
	}
}

// checkBookDrift runs one drift check of s; it returns only ctx's error.
func (c *Collector) checkBookDrift(ctx context.Context, s market.Stream, f BookFetcher, resync chan<- market.Stream) error {
	k := c.books.keeper(s)
	if !k.beginDrift() {
		return nil
	}
	m, err := f.FetchBook(ctx, s.Symbol, c.books.cfg.Depth)
	if err != nil {
		k.endDrift()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.st.recordError(fmt.Errorf("fetch book for drift check %s: %w", s, err), c.cfg.Now())
		return nil
	}
	settle := time.NewTimer(c.books.cfg.DriftSettle)
	select {
	case <-ctx.Done():
		settle.Stop()
		k.endDrift()
		return ctx.Err()
	case <-settle.C:
	}
	d, drifted := k.compareDrift(&m)
	if !drifted {
		return nil
	}
	if c.books.logEvery.Allow() {
		c.log.Warn("order book drifted from the exchange's REST book: resync (rate-limited log; every resync is a book_resync gap)",
			zap.String("stream", s.String()), zap.Int("mismatches", len(d.Mismatches)), zap.Int("excused", d.Excused), zap.Int("compared", d.Compared))
	}
	select {
	case resync <- s:
	default:
		k.resyncFailed()
	}
	return nil
}

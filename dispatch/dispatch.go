// Package dispatch hands accepted records to in-process subscribers: the
// callbacks of the embedding API (OnTrade, OnCandle, ...). Each subscriber
// has its own bounded queue and its own goroutine, so that a slow or
// panicking callback never holds up the store, the live feed or the other
// subscribers, unless it chose backpressure (PolicyBlock).
//
// Contract:
//   - a callback sees only records that passed validation, after the store
//     has taken them (or spooled them) and the live feed has them;
//   - records of one stream reach a subscriber in the order the exchange
//     sent them; records of different streams may interleave;
//   - a callback runs on its subscriber's goroutine, one record at a time;
//     it must not keep the record after it returns (copy what it needs),
//     and it must not modify it;
//   - a panic in a callback is recovered, counted and logged (once per
//     subscriber with its stack); the subscriber goes on with the next
//     record;
//   - when a subscriber's queue is full, PolicyDrop drops the record and
//     counts it; PolicyBlock makes delivery wait for room, which slows the
//     collectors (backpressure) but never loses a record.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"marketetl/market"
)

// Policy says what happens when a subscriber's queue is full.
type Policy int

const (
	// PolicyDrop drops the record and counts it (the default): the
	// subscriber misses data, nothing else waits.
	PolicyDrop Policy = iota
	// PolicyBlock waits for room: nothing is lost, and a slow callback
	// slows the collectors that feed it.
	PolicyBlock
)

// String names the policy.
func (p Policy) String() string {
	if p == PolicyBlock {
		return "block"
	}
	return "drop"
}

// DefaultQueue is a subscriber's queue length unless set.
const DefaultQueue = 4096

// Filter selects records. An empty list matches everything.
type Filter struct {
	Types     []market.DataType
	Exchanges []market.Exchange
	Symbols   []market.Symbol
}

// Match reports whether rec passes f.
func (f Filter) Match(rec market.Record) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, rec.DataType()) {
		return false
	}
	h := rec.Header()
	if len(f.Exchanges) > 0 && !slices.Contains(f.Exchanges, h.Exchange) {
		return false
	}
	return len(f.Symbols) == 0 || slices.Contains(f.Symbols, h.Symbol)
}

// Options configure one subscription.
type Options struct {
	// Name identifies the subscriber in status, metrics and logs.
	// Default "subscriber-<n>".
	Name string
	// Queue is the queue length. Default DefaultQueue.
	Queue int
	// Policy applies when the queue is full. Default PolicyDrop.
	Policy Policy
}

// ErrClosed is returned by Subscribe once the dispatcher has stopped.
var ErrClosed = errors.New("dispatcher stopped")

// Dispatcher fans records out to subscribers. Deliver is safe for
// concurrent use and costs one atomic load when nobody subscribes.
type Dispatcher struct {
	log *zap.Logger

	subs atomic.Pointer[[]*Subscription] // copy on write

	mu     sync.Mutex // guards the fields below and writes to subs
	closed bool
	seq    int
	wg     sync.WaitGroup // one per subscriber goroutine
}

// New returns a Dispatcher; log may be nil.
func New(log *zap.Logger) *Dispatcher {
	if log == nil {
		log = zap.NewNop()
	}
	d := &Dispatcher{log: log}
	d.subs.Store(&[]*Subscription{})
	return d
}

// Subscription is one subscriber.
type Subscription struct {
	d      *Dispatcher
	name   string
	filter Filter
	policy Policy
	fn     func(market.Record)
	queue  chan market.Record
	done   chan struct{} // closed to stop the goroutine
	exited chan struct{} // closed when the goroutine has returned
	once   sync.Once

	delivered, dropped, panics atomic.Uint64
}

// Subscribe registers fn for the records f matches, starting its goroutine.
// It may be called at any time before the dispatcher stops.
func (d *Dispatcher) Subscribe(f Filter, fn func(market.Record), opt Options) (*Subscription, error) {
	if fn == nil {
		return nil, errors.New("subscribe: the callback is nil")
	}
	if opt.Queue < 0 {
		return nil, fmt.Errorf("subscribe: queue length %d: want 0 (default) or more", opt.Queue)
	}
	if opt.Queue == 0 {
		opt.Queue = DefaultQueue
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	d.seq++
	if opt.Name == "" {
		opt.Name = fmt.Sprintf("subscriber-%d", d.seq)
	}
	for _, s := range *d.subs.Load() {
		if s.name == opt.Name {
			return nil, fmt.Errorf("subscribe: a subscriber is already named %q", opt.Name)
		}
	}
	s := &Subscription{d: d, name: opt.Name, filter: f, policy: opt.Policy, fn: fn,
		queue: make(chan market.Record, opt.Queue), done: make(chan struct{}), exited: make(chan struct{})}
	next := append(slices.Clone(*d.subs.Load()), s)
	d.subs.Store(&next)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		s.run()
	}()
	return s, nil
}

// Name returns the subscriber's name.
func (s *Subscription) Name() string { return s.name }

// Close removes the subscription; records already queued are discarded.
// It returns once the callback has returned for the last time, so after
// Close the callback is never called again. It must not be called from the
// callback itself.
func (s *Subscription) Close() {
	s.d.mu.Lock()
	cur := *s.d.subs.Load()
	if i := slices.Index(cur, s); i >= 0 {
		next := slices.Delete(slices.Clone(cur), i, i+1)
		s.d.subs.Store(&next)
	}
	s.d.mu.Unlock()
	s.once.Do(func() { close(s.done) })
	<-s.exited
}

// run calls the callback for each queued record until Close.
func (s *Subscription) run() {
	defer close(s.exited)
	for {
		select {
		case <-s.done:
			return
		case rec := <-s.queue:
			s.call(rec)
		}
	}
}

// call runs the callback, recovering a panic.
func (s *Subscription) call(rec market.Record) {
	defer func() {
		if p := recover(); p != nil {
			if s.panics.Add(1) == 1 {
				s.d.log.Error("callback panicked (logged once per subscriber; all are counted)",
					zap.String("subscriber", s.name), zap.String("stream", rec.Stream().String()),
					zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			}
		}
	}()
	s.fn(rec)
	s.delivered.Add(1)
}

// Deliver queues rec for every subscriber whose filter matches. With
// PolicyBlock subscribers it may wait for room, returning ctx.Err() if ctx
// ends first; otherwise it never blocks.
func (d *Dispatcher) Deliver(ctx context.Context, rec market.Record) error {
	subs := *d.subs.Load()
	for _, s := range subs {
		if !s.filter.Match(rec) {
			continue
		}
		select {
		case s.queue <- rec:
			continue
		default:
		}
		if s.policy != PolicyBlock {
			s.dropped.Add(1)
			continue
		}
		select {
		case s.queue <- rec:
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Run waits for ctx to end, then stops every subscriber and returns once
// their goroutines have exited. Subscribe fails after that.
func (d *Dispatcher) Run(ctx context.Context) error {
	<-ctx.Done()
	d.mu.Lock()
	d.closed = true
	subs := *d.subs.Load()
	d.subs.Store(&[]*Subscription{})
	d.mu.Unlock()
	for _, s := range subs {
		s.once.Do(func() { close(s.done) })
	}
	d.wg.Wait()
	return nil
}

// Stats are one subscriber's counters.
type Stats struct {
	Name   string `json:"name"`
	Policy string `json:"policy"`
	// Delivered counts callbacks that returned normally.
	Delivered uint64 `json:"delivered"`
	// Dropped counts records dropped on a full queue (PolicyDrop).
	Dropped uint64 `json:"dropped"`
	// Panics counts callbacks that panicked.
	Panics uint64 `json:"panics"`
	// Queued is the queue's length now, and Capacity its bound.
	Queued   int `json:"queued"`
	Capacity int `json:"capacity"`
}

// Stats returns every current subscriber's counters, in subscription order.
func (d *Dispatcher) Stats() []Stats {
	subs := *d.subs.Load()
	out := make([]Stats, 0, len(subs))
	for _, s := range subs {
		out = append(out, s.Stats())
	}
	return out
}

// Stats returns the subscriber's counters.
func (s *Subscription) Stats() Stats {
	return Stats{Name: s.name, Policy: s.policy.String(), Delivered: s.delivered.Load(), Dropped: s.dropped.Load(),
		Panics: s.panics.Load(), Queued: len(s.queue), Capacity: cap(s.queue)}
}

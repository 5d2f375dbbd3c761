// Package pipeline is the path every decoded record takes: validation, then
// the store and the live feed. It is the collectors' sink (collector.Sink; the service checks it).
package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"marketetl/market"
	"marketetl/validate"
)

// Checker validates one record; nil means accepted. *validate.Validator
// implements it.
type Checker interface {
	Check(rec market.Record) *validate.Rejection
}

// checkerAfter is a Checker that can take a reading of the wall clock
// made before the call, and read the clock itself only when it must.
// *validate.Validator implements it (CheckAfter).
type checkerAfter interface {
	CheckAfter(rec market.Record, earlier time.Time) *validate.Rejection
}

// Store keeps accepted records and rejects. *store.Writer and
// *spool.Buffer implement it.
type Store interface {
	// Admit reports, without blocking and without side effects, whether
	// Write will keep rec: nil when its type is supported and its row can
	// be stored; otherwise the reason (Write then keeps rec among the
	// rejects, or fails). The pipeline publishes rec only when Admit
	// returned nil, before Write, so that the live feed never waits for
	// the database.
	Admit(rec market.Record) error
	// Write keeps rec. It blocks while the store's queue is full (a
	// spool.Buffer waits at most its SpoolAfter) and returns ctx.Err()
	// when ctx ends.
	Write(ctx context.Context, rec market.Record) error
	// Reject keeps a rejected record; it blocks and fails like Write.
	Reject(ctx context.Context, rej market.Reject) error
}

// Publisher publishes an accepted record on the live feed without
// blocking. *pubsub.Publisher implements it.
type Publisher interface {
	Publish(rec market.Record)
}

// Subscribers receive accepted records in process (the embedding API's
// callbacks). *dispatch.Dispatcher implements it. Deliver does not block
// unless a subscriber asked for backpressure.
type Subscribers interface {
	Deliver(ctx context.Context, rec market.Record) error
}

// Config wires a Pipeline.
type Config struct {
	Checker Checker
	Store   Store
	// Publisher may be nil: no live feed.
	Publisher Publisher
	// Raw renders a rejected record for the rejects table; nil keeps no raw payload.
	Raw func(rec market.Record) []byte
	// Subscribers may be nil: no in-process callbacks.
	Subscribers Subscribers
}

// Pipeline validates records and hands accepted ones to the store and the
// publisher. It is safe for concurrent use and takes no lock shared
// between collectors on the path of an accepted record.
type Pipeline struct {
	cfg Config
	// after is cfg.Checker when it implements checkerAfter, else nil.
	after    checkerAfter
	accepted atomic.Uint64
	// unstored counts records published on the live feed that the store
	// then failed to take (see Accept).
	unstored atomic.Uint64

	mu       sync.Mutex // guards rejected
	rejected map[string]uint64
}

// New checks cfg and returns a Pipeline.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Checker == nil || cfg.Store == nil {
		return nil, fmt.Errorf("new pipeline: a checker and a store are required")
	}
	p := &Pipeline{cfg: cfg, rejected: map[string]uint64{}}
	p.after, _ = cfg.Checker.(checkerAfter)
	return p, nil
}

// Accept validates rec. An accepted record the store admits (Store.Admit)
// is published on the live feed first, without waiting for the database,
// then written to the store (which may block under backpressure), then
// handed to the in-process subscribers. A record the store does not admit
// is not published; a rejected one is kept in the store's rejects with
// its reason, and Accept returns an error wrapping market.ErrRejected (the
// collector records a gap covering the record).
//
// So a record is published only if it will be stored or spooled, with one
// exception: without a spool, a record whose Write is still waiting for
// room in the store's queue when ctx ends (shutdown while the database is
// slow) was published but is not stored; Counts.PublishedUnstored counts
// those. The in-process subscribers see a record only after the store or
// the spool took it.
func (p *Pipeline) Accept(ctx context.Context, rec market.Record) error {
	return p.accept(ctx, rec, p.cfg.Checker.Check(rec))
}

// AcceptAfter is Accept for a caller that read the wall clock (time.Now)
// at earlier, before the call (a collector, once per frame): a Checker
// that implements CheckAfter (*validate.Validator) then reads the clock
// only for a record ahead of that reading, with the same answer (see
// validate.Validator.CheckAfter); another Checker checks as Accept does.
func (p *Pipeline) AcceptAfter(ctx context.Context, rec market.Record, earlier time.Time) error {
	if p.after == nil {
		return p.Accept(ctx, rec)
	}
	return p.accept(ctx, rec, p.after.CheckAfter(rec, earlier))
}

// accept is Accept with rec's check done: rej is nil when rec is accepted.
func (p *Pipeline) accept(ctx context.Context, rec market.Record, rej *validate.Rejection) error {
	if rej != nil {
		r := refusal(p.cfg.Raw, rec, rej)
		if err := p.Reject(ctx, r); err != nil {
			return err
		}
		return fmt.Errorf("%s %s: %w", rec.Stream(), r.Reason, market.ErrRejected)
	}
	published := false
	if p.cfg.Publisher != nil && p.cfg.Store.Admit(rec) == nil {
		p.cfg.Publisher.Publish(rec)
		published = true
	}
	if err := p.cfg.Store.Write(ctx, rec); err != nil {
		if published {
			p.unstored.Add(1)
		}
		return fmt.Errorf("store %s: %w", rec.Stream(), err)
	}
	p.accepted.Add(1)
	if p.cfg.Subscribers != nil {
		if err := p.cfg.Subscribers.Deliver(ctx, rec); err != nil {
			return fmt.Errorf("deliver %s to subscribers: %w", rec.Stream(), err)
		}
	}
	return nil
}

// Refusal checks rec with c and, when c refuses it, returns the reject to
// keep (with raw(rec) as its payload when raw is set) and true. Accept and
// the spool's replay check records through it.
func Refusal(c Checker, raw func(market.Record) []byte, rec market.Record) (market.Reject, bool) {
	rej := c.Check(rec)
	if rej == nil {
		return market.Reject{}, false
	}
	return refusal(raw, rec, rej), true
}

// refusal returns the reject that keeps rec, refused for rej.
func refusal(raw func(market.Record) []byte, rec market.Record, rej *validate.Rejection) market.Reject {
	h := rec.Header()
	r := market.Reject{
		Received: h.Received, Exchange: h.Exchange, Symbol: h.Symbol, Type: rec.DataType(),
		Reason: string(rej.Reason), Field: rej.Field, Detail: rej.Detail,
	}
	if raw != nil {
		r.Raw = raw(rec)
	}
	return r
}

// Reject keeps rej in the store's rejects and counts it by reason.
func (p *Pipeline) Reject(ctx context.Context, rej market.Reject) error {
	p.mu.Lock()
	p.rejected[rej.Reason]++
	p.mu.Unlock()
	if err := p.cfg.Store.Reject(ctx, rej); err != nil {
		return fmt.Errorf("keep reject %s: %w", rej.Reason, err)
	}
	return nil
}

// Counts is a snapshot of what passed through.
type Counts struct {
	Accepted uint64
	// Rejected counts rejects (validation and decoding) by reason.
	Rejected map[string]uint64
	// PublishedUnstored counts records published on the live feed that
	// the store then failed to take (see Accept).
	PublishedUnstored uint64
}

// Counts returns a snapshot of the counters.
func (p *Pipeline) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := Counts{Accepted: p.accepted.Load(), PublishedUnstored: p.unstored.Load(), Rejected: make(map[string]uint64, len(p.rejected))}
	for k, v := range p.rejected {
		c.Rejected[k] = v
	}
	return c
}

// Package pipeline is the path every decoded record takes: validation, then
// the store and the live feed. It is the collectors' sink (collector.Sink; the service checks it).
package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"marketetl/market"
	"marketetl/validate"
)

// Checker validates one record; nil means accepted. *validate.Validator
// implements it.
type Checker interface {
	Check(rec market.Record) *validate.Rejection
}

// Store keeps accepted records and rejects. *store.Writer implements it.
// Write and Reject block while the store's queue is full and return
// ctx.Err() when ctx ends.
type Store interface {
	Write(ctx context.Context, rec market.Record) error
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
// publisher. It is safe for concurrent use.
type Pipeline struct {
	cfg      Config
	accepted atomic.Uint64

	mu       sync.Mutex // guards rejected
	rejected map[string]uint64
}

// New checks cfg and returns a Pipeline.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Checker == nil || cfg.Store == nil {
		return nil, fmt.Errorf("new pipeline: a checker and a store are required")
	}
	return &Pipeline{cfg: cfg, rejected: map[string]uint64{}}, nil
}

// Accept validates rec; an accepted record is written to the store (which
// may block under backpressure), then published and handed to the
// in-process subscribers; a rejected one is kept in the store's rejects
// with its reason, and Accept returns an error wrapping
// market.ErrRejected (the collector records a gap covering the record).
func (p *Pipeline) Accept(ctx context.Context, rec market.Record) error {
	if r, bad := Refusal(p.cfg.Checker, p.cfg.Raw, rec); bad {
		if err := p.Reject(ctx, r); err != nil {
			return err
		}
		return fmt.Errorf("%s %s: %w", rec.Stream(), r.Reason, market.ErrRejected)
	}
	if err := p.cfg.Store.Write(ctx, rec); err != nil {
		return fmt.Errorf("store %s: %w", rec.Stream(), err)
	}
	p.accepted.Add(1)
	if p.cfg.Publisher != nil {
		p.cfg.Publisher.Publish(rec)
	}
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
	h := rec.Header()
	r := market.Reject{
		Received: h.Received, Exchange: h.Exchange, Symbol: h.Symbol, Type: rec.DataType(),
		Reason: string(rej.Reason), Field: rej.Field, Detail: rej.Detail,
	}
	if raw != nil {
		r.Raw = raw(rec)
	}
	return r, true
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
}

// Counts returns a snapshot of the counters.
func (p *Pipeline) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := Counts{Accepted: p.accepted.Load(), Rejected: make(map[string]uint64, len(p.rejected))}
	for k, v := range p.rejected {
		c.Rejected[k] = v
	}
	return c
}

package collector

import (
	"context"
	"sync/atomic"

	"github.com/gorilla/websocket"

	"marketetl/market"
)

// ReadSession runs the reader loop of a session over conn, already
// dialled, as session does, until reading fails, and returns that error.
// The collector must plan one connection. Calls that pass the same
// number continue one session, for gap detection.
func (c *Collector) ReadSession(ctx context.Context, conn *websocket.Conn, session uint64) error {
	c.mu.Lock()
	var key string
	var plan ConnPlan
	for k, p := range c.plans {
		key, plan = k, p
	}
	c.mu.Unlock()
	var lastRead atomic.Int64
	touch := c.toucher(conn, defaultReadTimeout, &lastRead)
	return c.read(ctx, key, plan, session, new(frameInHand), conn, touch,
		make(chan struct{}), make(chan struct{}, 1), make(chan market.Stream, 64), newPrivSession())
}

// NextSession returns a new session number.
func (c *Collector) NextSession() uint64 { return c.positions.next() }

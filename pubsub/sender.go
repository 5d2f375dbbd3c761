package pubsub

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"marketetl/backoff"
	"marketetl/market"
)

// StreamField is the field of each stream entry that holds the payload:
// XADD <key> MAXLEN ~ N * payload <json>.
const StreamField = "payload"

// maxInFlight is how many pipelines may await their replies at once: it
// bounds the records in flight to maxInFlight × Config.BatchSize. While
// they are all on the wire, records wait in the queue and make the next
// pipeline bigger.
const maxInFlight = 4

// errorLogEvery spaces the warnings about failed commands on a healthy
// connection, which could otherwise repeat for every batch.
const errorLogEvery = 10 * time.Second

// Run sends queued records to Redis until ctx ends. It connects at once
// and, whenever Redis is unreachable, retries with a jittered, doubling
// delay while records are dropped and counted. On a connection, one
// goroutine (Run's own) writes pipelines as soon as records are queued,
// without waiting for the replies of the previous ones, and a second one
// reads the replies in order and counts each record's outcome. When ctx
// ends Run stops taking records, flushes what is queued (bounded by
// Config.ShutdownTimeout), counts the rest as dropped, closes its
// connection and returns nil, once its reply reader has returned. Redis
// errors are never returned: they are counted and reported by Status. Run
// may be called once.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("redis publisher: Run called twice")
	}
	s := newSender(p)
	for ctx.Err() == nil {
		c := s.connect(ctx)
		if c == nil {
			break
		}
		s.serve(ctx, c)
	}
	s.finish()
	return nil
}

// sender is Run's state. Its writer fields belong to Run's goroutine, its
// reader fields to the reply reader of the current connection; free is
// shared.
type sender struct {
	p *Publisher
	// streams is Config.StreamMaxLen > 0: every record is an XADD, then
	// its PUBLISH.
	streams bool
	// free holds the batches not in flight; a batch is taken by the
	// writer, handed to the reader once written, and given back by it.
	free chan *batch

	// Writer (Run's goroutine).
	timer *time.Timer
	// buf is the pipeline being written, in RESP, reused from batch to
	// batch; payload is one record's payload.
	buf, payload []byte
	names        map[market.Stream]streamNames
	// last is names[lastStream] (its publish is nil until the first).
	lastStream market.Stream
	last       streamNames
	// attempt counts the reconnect delays waited since Redis was last up.
	attempt int
	// droppedAtDown is the redis_down count when Redis went down.
	droppedAtDown uint64

	// Reader.
	// ok says, for each record of the batch being completed, whether its
	// PUBLISH was acknowledged.
	ok []bool
	// recv holds the receipt times of the batch's published records, for
	// Config.OnPublishReceived.
	recv []time.Time
	// lastErrorLog is when failed commands were last logged.
	lastErrorLog time.Time
}

// batch is one pipeline: the records written, and what the reader needs
// to complete them.
type batch struct {
	recs []market.Record
	// latency holds each record's latency histogram (nil without
	// Config.Metrics).
	latency []prometheus.Observer
}

func (b *batch) reset() {
	clear(b.recs)
	clear(b.latency)
	b.recs, b.latency = b.recs[:0], b.latency[:0]
}

func newSender(p *Publisher) *sender {
	s := &sender{
		p:       p,
		streams: p.cfg.StreamMaxLen > 0,
		free:    make(chan *batch, maxInFlight),
		timer:   time.NewTimer(time.Hour),
		names:   make(map[market.Stream]streamNames),
	}
	s.timer.Stop()
	for range maxInFlight {
		s.free <- &batch{recs: make([]market.Record, 0, min(p.cfg.BatchSize, 1024))}
	}
	return s
}

// serve publishes on c until ctx ends (then it flushes the queue, within
// Config.ShutdownTimeout) or the connection breaks (then it marks Redis
// down). It returns once its reply reader has returned and c is closed.
func (s *sender) serve(ctx context.Context, c *conn) {
	inflight := make(chan *batch, maxInFlight)
	// broken is closed by the reader when the connection failed.
	broken := make(chan struct{})
	var readErr error
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		readErr = s.read(c, inflight, broken)
	}()

	werr := s.send(ctx, c, inflight, broken)
	flushing := werr == nil && ctx.Err() != nil && !isClosed(broken)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.p.cfg.ShutdownTimeout)
	defer cancel()
	if flushing {
		werr = s.flush(fctx, c, inflight, broken)
	}
	if werr != nil {
		_ = c.close() // the reader fails what is in flight
	}
	close(inflight)
	timedOut := false
	if flushing && werr == nil {
		select {
		case <-readerDone:
		case <-fctx.Done():
			// Replies still missing when the flush's time is up: their
			// records are counted as failed (error).
			timedOut = true
			_ = c.close()
		}
	}
	<-readerDone
	if err := c.close(); err != nil && !isClosedConn(err) {
		s.p.log.Debug("close redis connection", zap.Error(err))
	}
	err := werr
	if err == nil {
		err = readErr
	}
	if err != nil && !timedOut {
		s.markDown(err)
	}
}

// isClosedConn reports whether err says the connection was already closed.
func isClosedConn(err error) bool { return errors.Is(err, net.ErrClosed) }

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// connect dials Redis until it answers (the connection) or ctx ends (nil).
// While Redis is down every record is dropped (redis_down).
func (s *sender) connect(ctx context.Context) *conn {
	p := s.p
	for {
		c, err := dial(ctx, p.opts, p.cfg.ClientName, p.cfg.DialTimeout, p.cfg.IOTimeout)
		if ctx.Err() != nil {
			if c != nil {
				_ = c.close()
			}
			return nil
		}
		if err == nil {
			s.markUp()
			return c
		}
		s.markDown(err)
		if !s.wait(ctx, s.nextDelay()) {
			return nil
		}
	}
}

// wait waits d, dropping whatever is queued meanwhile; it reports false
// when ctx ended first.
func (s *sender) wait(ctx context.Context, d time.Duration) bool {
	s.dropQueued(DropRedisDown)
	s.timer.Reset(d)
	defer s.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.timer.C:
			return true
		case <-s.p.queue:
			s.p.drop(DropRedisDown, 1)
		}
	}
}

// dropQueued empties the queue, counting each record as dropped for reason.
func (s *sender) dropQueued(reason DropReason) {
	for {
		select {
		case <-s.p.queue:
			s.p.drop(reason, 1)
		default:
			return
		}
	}
}

// nextDelay returns the next reconnect delay: doubling from RetryMin to
// RetryMax, each drawn uniformly from its upper half.
func (s *sender) nextDelay() time.Duration {
	cfg := s.p.cfg
	d := backoff.Policy{Min: cfg.RetryMin, Max: cfg.RetryMax, Jitter: backoff.Jitter{Below: 0.5}}.Delay(s.attempt)
	s.attempt++
	return d
}

func (s *sender) markDown(err error) {
	p := s.p
	text := p.noteError(err)
	if p.setState(StateDown) {
		s.droppedAtDown = p.dropped[DropRedisDown.index()].Load()
		p.log.Warn("redis unavailable: live feed records are dropped until it is back", zap.String("error", text))
		return
	}
	p.log.Debug("redis still unavailable", zap.String("error", text))
}

func (s *sender) markUp() {
	p := s.p
	s.attempt = 0
	switch prev := p.currentState(); prev {
	case StateDown:
		p.reconnects.Add(1)
		p.setState(StateConnected)
		lost := p.dropped[DropRedisDown.index()].Load() - s.droppedAtDown
		p.log.Info("redis is back: publishing resumed", zap.Uint64("dropped_while_down", lost))
	default:
		p.setState(StateConnected)
		p.log.Info("redis connected: publishing the live feed")
	}
}

// finish stops the intake and counts what is still queued as dropped:
// shutdown when the flush ran out of time, redis_down when Redis was not
// reachable.
func (s *sender) finish() {
	p := s.p
	p.intake.Lock()
	p.stopped = true
	p.intake.Unlock()
	reason := DropShutdown
	if p.currentState() != StateConnected {
		reason = DropRedisDown
	}
	s.dropQueued(reason)
	p.setState(StateStopped)
	st := p.Status()
	p.log.Info("redis publisher stopped", zap.Uint64("published", st.Published),
		zap.Uint64("dropped", st.Offered-st.Published), zap.Uint64("batches", st.Batches))
}

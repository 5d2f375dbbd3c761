package pubsub

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"marketetl/backoff"
	"marketetl/market"
)

// StreamField is the field of each stream entry that holds the payload:
// XADD <key> MAXLEN ~ N * payload <json>.
const StreamField = "payload"

// maxCachedNames bounds the sender's cache of channel names; past it the
// cache starts afresh (only a flood of distinct streams would get there).
const maxCachedNames = 10_000

// errorLogEvery spaces the warnings about failed commands on a healthy
// connection, which could otherwise repeat for every batch.
const errorLogEvery = 10 * time.Second

// Run sends queued records to Redis, pipelined in batches, until ctx ends.
// It connects at once and, whenever Redis is unreachable, retries with a
// jittered, doubling delay while records are dropped and counted. When ctx
// ends it stops taking records, flushes what is queued (bounded by
// Config.ShutdownTimeout), counts the rest as dropped, closes its
// connections and returns nil. Redis errors are never returned: they are
// counted and reported by Status. Run may be called once; it starts no
// goroutine of its own.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("redis publisher: Run called twice")
	}
	s := &sender{
		p:     p,
		timer: time.NewTimer(time.Hour),
		batch: make([]market.Record, 0, p.cfg.BatchSize),
		names: make(map[market.Stream]streamNames),
	}
	s.timer.Stop()
	s.loop(ctx)
	s.shutdown(ctx)
	return nil
}

// sender is Run's state; only Run's goroutine touches it.
type sender struct {
	p     *Publisher
	timer *time.Timer
	batch []market.Record
	// buf holds the payloads of the batch being sent.
	buf   []byte
	pubs  []*redis.IntCmd
	xadds []*redis.StringCmd
	// cmds are PUBLISH commands kept from batch to batch (their argument
	// slices are rewritten in place), and queued the batch's commands in
	// pipeline order: go-redis otherwise builds a command object and its
	// argument slice for every record.
	cmds   []*redis.IntCmd
	queued []redis.Cmder
	// recv holds the receipt times of the batch's published records, for
	// Config.OnPublishReceived.
	recv []time.Time
	// latency holds the latency histogram of each record of the batch
	// being sent (nil without Config.Metrics).
	latency []prometheus.Observer
	names   map[market.Stream]streamNames
	// attempt counts the reconnect delays waited since Redis was last up.
	attempt int
	// droppedAtDown is the redis_down count when Redis went down.
	droppedAtDown uint64
	// lastErrorLog is when failed commands were last logged.
	lastErrorLog time.Time
}

// streamNames are a stream's channel and stream key.
type streamNames struct {
	channel, key string
	// channelArg is channel as a command argument, converted once.
	channelArg any
	sanitised  bool
	// latency is the stream's exchange's latency histogram, nil without
	// Config.Metrics.
	latency prometheus.Observer
}

func (s *sender) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if s.p.currentState() != StateConnected {
			if !s.connect(ctx) {
				return
			}
			continue
		}
		s.collect(ctx)
		if len(s.batch) > 0 {
			// A batch already taken is sent even if ctx has just ended.
			s.send(context.WithoutCancel(ctx), s.batch)
			clear(s.batch)
			s.batch = s.batch[:0]
		}
	}
}

// collect fills s.batch: it waits for a first record, then for more until
// the batch is full or the first has waited FlushInterval, or ctx ends.
func (s *sender) collect(ctx context.Context) {
	q := s.p.queue
	select {
	case <-ctx.Done():
		return
	case rec := <-q:
		s.batch = append(s.batch, rec)
	}
	s.timer.Reset(s.p.cfg.FlushInterval)
	defer s.timer.Stop()
	for {
		// What is already queued joins the batch whatever the timer says.
		s.fillNow()
		if len(s.batch) >= s.p.cfg.BatchSize {
			return
		}
		select {
		case rec := <-q:
			s.batch = append(s.batch, rec)
		case <-s.timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// fillNow adds to s.batch what is queued, without waiting, up to BatchSize.
func (s *sender) fillNow() {
	for len(s.batch) < s.p.cfg.BatchSize {
		select {
		case rec := <-s.p.queue:
			s.batch = append(s.batch, rec)
		default:
			return
		}
	}
}

// send pipelines batch (an XADD per record when streams are on, then its
// PUBLISH) and counts the outcome; it marks Redis down when the connection
// failed.
func (s *sender) send(ctx context.Context, batch []market.Record) {
	p := s.p
	ctx, cancel := context.WithTimeout(ctx, p.cfg.IOTimeout)
	defer cancel()
	pipe := p.client.Pipeline()
	s.buf, s.pubs, s.xadds, s.queued, s.latency = s.buf[:0], s.pubs[:0], s.xadds[:0], s.queued[:0], s.latency[:0]
	for _, rec := range batch {
		n := s.namesOf(ChannelStream(rec))
		s.latency = append(s.latency, n.latency)
		if n.sanitised {
			p.sanitised.Add(1)
		}
		start := len(s.buf)
		s.buf = Encode(s.buf, rec)
		// The pipeline keeps payload until Exec: later appends may move
		// s.buf, never overwrite what payload refers to.
		payload := s.buf[start:len(s.buf):len(s.buf)]
		if p.cfg.StreamMaxLen > 0 {
			x := redis.NewStringCmd(ctx, "xadd", n.key, "maxlen", "~", p.cfg.StreamMaxLen, "*", StreamField, payload)
			s.xadds = append(s.xadds, x)
			s.queued = append(s.queued, x)
		}
		c := s.publishCmd(len(s.pubs), n.channelArg, payload)
		s.pubs = append(s.pubs, c)
		s.queued = append(s.queued, c)
	}
	_ = pipe.BatchProcess(ctx, s.queued...)
	_, execErr := pipe.Exec(ctx)
	// Every reply of the pipeline has arrived: one clock reading dates
	// them all.
	replied := time.Now()
	// A batch that could not even connect was not sent.
	reason := DropError
	if isDialError(execErr) {
		reason = DropRedisDown
	} else {
		p.batches.Add(1)
	}
	var published int
	var oldest time.Time
	var cmdErr error
	for i, c := range s.pubs {
		if err := c.Err(); err != nil {
			p.drop(reason, 1)
			cmdErr = err
			continue
		}
		published++
		r := batch[i].Header().Received
		if oldest.IsZero() || r.Before(oldest) {
			oldest = r
		}
		if o := s.latency[i]; o != nil && !r.IsZero() {
			o.Observe(replied.Sub(r).Seconds())
		}
		if p.cfg.OnPublishReceived != nil {
			s.recv = append(s.recv, r)
		}
	}
	for _, c := range s.xadds {
		if err := c.Err(); err != nil {
			p.streamErrors.Add(1)
			cmdErr = err
			continue
		}
		p.streamed.Add(1)
	}
	clear(s.pubs)
	clear(s.xadds)
	clear(s.latency)
	clear(s.queued)
	for _, c := range s.cmds[:min(len(batch), len(s.cmds))] {
		c.Args()[2] = nil // the payload: s.buf is reused
	}
	p.published.Add(uint64(published))
	if published > 0 && p.cfg.OnPublish != nil {
		p.cfg.OnPublish(published, oldest)
	}
	if published > 0 && p.cfg.OnPublishReceived != nil {
		p.cfg.OnPublishReceived(s.recv)
	}
	s.recv = s.recv[:0]
	if execErr != nil && !isRedisReply(execErr) {
		s.markDown(execErr)
		return
	}
	if cmdErr != nil {
		text := p.noteError(cmdErr)
		if now := time.Now(); now.Sub(s.lastErrorLog) >= errorLogEvery {
			s.lastErrorLog = now
			p.log.Warn("redis refused commands", zap.String("error", text),
				zap.Int("batch", len(batch)), zap.Int("published", published))
		}
	}
}

// publishCmd returns the i-th PUBLISH command of the batch, reset, with
// channel and payload as its arguments. (A command's context is not used
// by a pipeline, which runs under the context given to Exec.)
func (s *sender) publishCmd(i int, channel any, payload []byte) *redis.IntCmd {
	if i == len(s.cmds) {
		s.cmds = append(s.cmds, redis.NewIntCmd(context.Background(), "publish", nil, nil))
	}
	c := s.cmds[i]
	args := c.Args()
	args[1], args[2] = channel, payload
	c.SetErr(nil)
	c.SetVal(0)
	return c
}

// isRedisReply reports whether err is an error reply from the server (the
// connection is fine) rather than a failure to talk to it.
func isRedisReply(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr)
}

// isDialError reports whether err is a failure to connect, before anything
// was sent.
func isDialError(err error) bool {
	var oerr *net.OpError
	return errors.As(err, &oerr) && oerr.Op == "dial"
}

// namesOf returns the channel and stream key of stream st, from the cache.
func (s *sender) namesOf(st market.Stream) streamNames {
	if n, ok := s.names[st]; ok {
		return n
	}
	if len(s.names) >= maxCachedNames {
		clear(s.names)
	}
	ch, sanitised := channelName(s.p.cfg.ChannelPrefix, st)
	n := streamNames{channel: ch, channelArg: ch, key: StreamKey(s.p.cfg.ChannelPrefix, st), sanitised: sanitised,
		latency: s.p.cfg.Metrics.observer(st.Exchange)}
	s.names[st] = n
	return n
}

// connect pings Redis until it answers (true) or ctx ends (false). While
// Redis is down every record is dropped (redis_down).
func (s *sender) connect(ctx context.Context) bool {
	p := s.p
	for {
		pctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout+p.cfg.IOTimeout)
		err := p.client.Ping(pctx).Err()
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			s.markUp()
			return true
		}
		s.markDown(err)
		if !s.wait(ctx, s.nextDelay()) {
			return false
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

// shutdown stops the intake, flushes what is queued within ShutdownTimeout
// (if Redis is up), counts the rest as dropped and closes the client.
func (s *sender) shutdown(ctx context.Context) {
	p := s.p
	p.intake.Lock()
	p.stopped = true
	p.intake.Unlock()

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
	defer cancel()
	for {
		s.batch = s.batch[:0]
		s.fillNow()
		if len(s.batch) == 0 {
			break
		}
		switch {
		case p.currentState() != StateConnected:
			p.drop(DropRedisDown, len(s.batch))
		case fctx.Err() != nil:
			p.drop(DropShutdown, len(s.batch))
		default:
			s.send(fctx, s.batch)
		}
	}
	clear(s.batch[:cap(s.batch)])
	p.setState(StateStopped)
	if err := p.client.Close(); err != nil {
		p.log.Debug("close redis client", zap.Error(err))
	}
	st := p.Status()
	p.log.Info("redis publisher stopped", zap.Uint64("published", st.Published),
		zap.Uint64("dropped", st.Offered-st.Published), zap.Uint64("batches", st.Batches))
}

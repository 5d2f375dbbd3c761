package pubsub

import (
	"context"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"marketetl/market"
)

// maxCachedNames bounds the writer's cache of channel names; past it the
// cache starts afresh (only a flood of distinct streams would get there).
const maxCachedNames = 10_000

// streamNames are what the writer needs of a stream, built once.
type streamNames struct {
	// publish is "PUBLISH <channel>" in RESP, up to the payload; xadd is
	// "XADD <key> MAXLEN ~ N * payload", up to the payload (streams only).
	publish, xadd []byte
	sanitised     bool
	// latency is the stream's exchange's latency histogram, nil without
	// Config.Metrics.
	latency prometheus.Observer
}

// send writes pipelines to c until ctx ends or the connection breaks. A
// pipeline holds what is queued when the writer is free, up to BatchSize
// records; with a FlushInterval it first waits up to that long for more.
// It returns the error of a write that failed (the reader learns of it
// from the closed connection), nil otherwise.
func (s *sender) send(ctx context.Context, c *conn, inflight chan<- *batch, broken <-chan struct{}) error {
	q := s.p.queue
	for {
		var b *batch
		select {
		case b = <-s.free:
		case <-broken:
			return nil
		case <-ctx.Done():
			return nil
		}
		select {
		case rec := <-q:
			b.recs = append(b.recs, rec)
		case <-broken:
			s.free <- b
			return nil
		case <-ctx.Done():
			s.free <- b
			return nil
		}
		s.fillNow(b)
		if s.p.cfg.FlushInterval > 0 && len(b.recs) < s.p.cfg.BatchSize {
			s.linger(ctx, b, broken)
		}
		if err := s.write(c, b, inflight); err != nil {
			return err
		}
	}
}

// flush writes what is queued once ctx has ended, until the queue is empty,
// fctx ends or the connection breaks. Publish takes nothing more.
func (s *sender) flush(fctx context.Context, c *conn, inflight chan<- *batch, broken <-chan struct{}) error {
	p := s.p
	p.intake.Lock()
	p.stopped = true
	p.intake.Unlock()
	for {
		var b *batch
		select {
		case b = <-s.free:
		case <-broken:
			return nil
		case <-fctx.Done():
			return nil
		}
		s.fillNow(b)
		if len(b.recs) == 0 {
			s.free <- b
			return nil
		}
		if err := s.write(c, b, inflight); err != nil {
			return err
		}
	}
}

// fillNow adds to b what is queued, without waiting, up to BatchSize.
func (s *sender) fillNow(b *batch) {
	for len(b.recs) < s.p.cfg.BatchSize {
		select {
		case rec := <-s.p.queue:
			b.recs = append(b.recs, rec)
		default:
			return
		}
	}
}

// linger waits for b to fill up to BatchSize for at most FlushInterval.
func (s *sender) linger(ctx context.Context, b *batch, broken <-chan struct{}) {
	s.timer.Reset(s.p.cfg.FlushInterval)
	defer s.timer.Stop()
	for len(b.recs) < s.p.cfg.BatchSize {
		select {
		case rec := <-s.p.queue:
			b.recs = append(b.recs, rec)
			s.fillNow(b)
		case <-s.timer.C:
			return
		case <-broken:
			return
		case <-ctx.Done():
			return
		}
	}
}

// write encodes b's commands, an XADD per record when streams are on,
// then its PUBLISH, writes them in one go and hands b to the reader. A
// failed write fails b's records (error).
func (s *sender) write(c *conn, b *batch, inflight chan<- *batch) error {
	p := s.p
	s.encode(b)
	p.batches.Add(1)
	if err := c.write(s.buf, p.cfg.IOTimeout); err != nil {
		p.drop(DropError, len(b.recs))
		if s.streams {
			p.streamErrors.Add(uint64(len(b.recs)))
		}
		b.reset()
		s.free <- b
		return err
	}
	if cap(s.buf) > 4<<20 {
		s.buf = nil // one huge pipeline is not kept for ever
	}
	// Never blocks: there are as many places as batches.
	inflight <- b
	return nil
}

// encode writes b's commands into s.buf and notes each record's latency
// histogram in b.
func (s *sender) encode(b *batch) {
	s.buf = s.buf[:0]
	sanitised := 0
	for _, rec := range b.recs {
		n := s.namesOf(ChannelStream(rec))
		b.latency = append(b.latency, n.latency)
		if n.sanitised {
			sanitised++
		}
		s.payload = Encode(s.payload[:0], rec)
		if s.streams {
			s.buf = append(s.buf, n.xadd...)
			s.buf = appendBulk(s.buf, s.payload)
		}
		s.buf = append(s.buf, n.publish...)
		s.buf = appendBulk(s.buf, s.payload)
	}
	if sanitised > 0 {
		s.p.sanitised.Add(uint64(sanitised))
	}
}

// namesOf returns the commands' beginnings for stream st, from the cache.
// The last stream's are kept aside: consecutive records mostly share
// their stream, and comparing it costs less than hashing it.
func (s *sender) namesOf(st market.Stream) streamNames {
	if s.last.publish != nil && st == s.lastStream {
		return s.last
	}
	if n, ok := s.names[st]; ok {
		s.lastStream, s.last = st, n
		return n
	}
	if len(s.names) >= maxCachedNames {
		clear(s.names)
	}
	prefix := s.p.cfg.ChannelPrefix
	ch, sanitised := channelName(prefix, st)
	n := streamNames{sanitised: sanitised, latency: s.p.cfg.Metrics.observer(st.Exchange)}
	n.publish = appendBulk(appendBulk(appendHeader(nil, '*', 3), "PUBLISH"), ch)
	if s.streams {
		n.xadd = appendHeader(nil, '*', 8)
		for _, a := range []string{"XADD", StreamKey(prefix, st), "MAXLEN", "~",
			strconv.FormatInt(s.p.cfg.StreamMaxLen, 10), "*", StreamField} {
			n.xadd = appendBulk(n.xadd, a)
		}
	}
	s.names[st] = n
	s.lastStream, s.last = st, n
	return n
}

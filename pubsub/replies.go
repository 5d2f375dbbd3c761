package pubsub

import (
	"fmt"
	"time"

	"go.uber.org/zap"
)

// read completes the batches written on c, in order, until inflight is
// closed. When the connection fails (an error, a reply not in time, a
// reply out of step) it closes c and broken, and fails the records of
// every batch still in flight (error). It returns the connection's error.
func (s *sender) read(c *conn, inflight <-chan *batch, broken chan<- struct{}) error {
	var err error
	for b := range inflight {
		if err == nil {
			if err = s.complete(c, b); err != nil {
				_ = c.close()
				close(broken)
			}
		} else {
			s.p.drop(DropError, len(b.recs))
			if s.streams {
				s.p.streamErrors.Add(uint64(len(b.recs)))
			}
		}
		b.reset()
		s.free <- b
	}
	return err
}

// complete reads the replies to b's commands and counts each record's
// outcome. A refused command fails its record (or, for an XADD, counts a
// stream error); a connection failure fails every record not yet
// answered, and is returned.
func (s *sender) complete(c *conn, b *batch) error {
	p := s.p
	var err error
	// The replies are due within IOTimeout of the reader turning to them
	// (not of the write: a reader held up by the callbacks, or by a
	// starved machine, would otherwise fail replies already received).
	if derr := c.nc.SetReadDeadline(time.Now().Add(p.cfg.IOTimeout)); derr != nil {
		err = fmt.Errorf("read redis replies: %w", derr)
	}
	var refusal []byte
	var streamed, streamErrs uint64
	s.ok = s.ok[:0]
	for range b.recs {
		if s.streams {
			var ok bool
			if err == nil {
				ok, err = expectReply(c, '$', "XADD", &refusal)
			}
			if ok {
				streamed++
			} else {
				streamErrs++
			}
		}
		ok := false
		if err == nil {
			ok, err = expectReply(c, ':', "PUBLISH", &refusal)
		}
		s.ok = append(s.ok, ok)
	}
	// Every reply of the pipeline has arrived: one clock reading dates
	// them all.
	replied := time.Now()
	var published int
	var oldest time.Time
	for i, ok := range s.ok {
		if !ok {
			continue
		}
		published++
		r := b.recs[i].Header().Received
		if oldest.IsZero() || r.Before(oldest) {
			oldest = r
		}
		if o := b.latency[i]; o != nil && !r.IsZero() {
			o.Observe(replied.Sub(r).Seconds())
		}
		if p.cfg.OnPublishReceived != nil {
			s.recv = append(s.recv, r)
		}
	}
	if streamed > 0 {
		p.streamed.Add(streamed)
	}
	if streamErrs > 0 {
		p.streamErrors.Add(streamErrs)
	}
	p.drop(DropError, len(b.recs)-published)
	p.published.Add(uint64(published))
	if published > 0 && p.cfg.OnPublish != nil {
		p.cfg.OnPublish(published, oldest)
	}
	if published > 0 && p.cfg.OnPublishReceived != nil {
		p.cfg.OnPublishReceived(s.recv)
	}
	clear(s.recv)
	s.recv = s.recv[:0]
	if err == nil && refusal != nil {
		text := p.noteError(&replyError{text: string(refusal)})
		if now := time.Now(); now.Sub(s.lastErrorLog) >= errorLogEvery {
			s.lastErrorLog = now
			p.log.Warn("redis refused commands", zap.String("error", text),
				zap.Int("batch", len(b.recs)), zap.Int("published", published))
		}
	}
	return err
}

// expectReply reads the reply to one command of the pipeline: true when it
// is of kind want; false with no error when Redis refused the command (its
// text kept in refusal); an error when the connection failed or the reply
// is of another kind (the stream is out of step).
func expectReply(c *conn, want byte, command string, refusal *[]byte) (bool, error) {
	kind, text, err := c.readReply()
	switch {
	case err != nil:
		return false, err
	case kind == want:
		return true, nil
	case kind == '-':
		*refusal = append((*refusal)[:0], text...)
		return false, nil
	}
	return false, fmt.Errorf("%w: reply of type %q to %s", errProtocol, kind, command)
}

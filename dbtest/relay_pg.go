package dbtest

import (
	"encoding/binary"
	"io"
)

// PGHook decides what happens to one PostgreSQL frontend message of a
// relayed connection, called before the message is forwarded, from that
// connection's forwarding goroutine (one call at a time per connection):
// forward it (false, nil), forward it and cut the connection so that no
// answer reaches the client (cutAfter), or hold it until hold is closed or the connection is cut.
// typ is the message type byte, body the message without type and length;
// backend is the connection's backend process id (0 until the server sent
// BackendKeyData). The untyped startup packets are not shown to it.
type PGHook func(typ byte, body []byte, backend int32) (cutAfter bool, hold <-chan struct{})

// pgForward forwards a PostgreSQL client's messages one by one through
// hook: the untyped startup packets (SSLRequest, GSSENCRequest, the
// startup message), then typed messages (type byte, int32 length).
func (r *Relay) pgForward(p *pair, hook PGHook) {
	defer p.close()
	c, s := p.client, p.server
	started := false
	for {
		var msg []byte
		var typ byte
		var body []byte
		if !started {
			var hdr [8]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint32(hdr[:4]))
			if n < 8 || n > 1<<20 {
				return
			}
			rest := make([]byte, n-8)
			if _, err := io.ReadFull(c, rest); err != nil {
				return
			}
			msg = append(hdr[:], rest...)
			code := binary.BigEndian.Uint32(hdr[4:])
			// SSLRequest and GSSENCRequest are answered by one byte and
			// followed by another untyped packet; the startup message
			// (protocol 3.0) is the last untyped one.
			if code != 80877103 && code != 80877104 {
				started = true
			}
		} else {
			var hdr [5]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			typ = hdr[0]
			n := int(binary.BigEndian.Uint32(hdr[1:]))
			if n < 4 {
				return
			}
			body = make([]byte, n-4)
			if _, err := io.ReadFull(c, body); err != nil {
				return
			}
			msg = append(hdr[:], body...)
		}
		cut, hold := false, (<-chan struct{})(nil)
		if typ != 0 {
			cut, hold = hook(typ, body, p.backend.Load())
		}
		if hold != nil {
			select {
			case <-hold:
			case <-p.closed:
				return
			}
		}
		if cut {
			r.cuts.Add(1)
		} else {
			cut = r.cutAfterWrite()
		}
		if cut {
			// Closed before the server can answer through it.
			_ = p.client.Close()
		}
		r.delay()
		if _, err := s.Write(msg); err != nil || cut {
			return
		}
	}
}

// pgBackward forwards the server's messages to the client, noting the
// backend pid of BackendKeyData ('K'). The client must not ask for TLS
// (sslmode=disable), so that every server message is typed.
func (r *Relay) pgBackward(p *pair) {
	defer p.close()
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(p.server, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:]))
		if n < 4 {
			return
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(p.server, body); err != nil {
			return
		}
		if hdr[0] == 'K' && len(body) >= 4 {
			p.backend.Store(int32(binary.BigEndian.Uint32(body[:4])))
		}
		r.delay()
		if _, err := p.client.Write(append(hdr[:], body...)); err != nil {
			return
		}
	}
}

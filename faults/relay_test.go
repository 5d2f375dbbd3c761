package faults

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// relay is an in-process TCP fault proxy: it forwards connections from its
// own address to target and, on demand, refuses new connections, cuts the
// open ones, delays every chunk (a slow link), or inspects the PostgreSQL
// frontend messages a client sends (to cut right after a COMMIT, or hold a
// COPY while its backend is terminated).
//
// It is ours rather than toxiproxy's so that a test can act at an exact
// protocol message, which toxics cannot.
type relay struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu      sync.Mutex
	down    bool
	latency time.Duration
	pairs   map[*pair]struct{}
	// pg, when set, gives each new connection a hook that sees every
	// PostgreSQL frontend message before it is forwarded; see pgHook.
	pg func() pgHook

	accepted, refused, cuts atomic.Int64
	wg                      sync.WaitGroup
	closing                 chan struct{} // closed when the test ends: held messages are let go
}

// pgHook decides what happens to one frontend message: forward it, forward
// it and then cut the connection, or hold it until hold is closed. backend
// is the connection's backend process id (0 until the server sent it).
type pgHook func(typ byte, body []byte, backend int32) (cutAfter bool, hold <-chan struct{})

type pair struct {
	client, server net.Conn
	once           sync.Once
	backend        atomic.Int32 // PostgreSQL backend pid, from BackendKeyData
}

func (p *pair) close() {
	p.once.Do(func() {
		_ = p.client.Close()
		_ = p.server.Close()
	})
}

// newRelay listens on a free loopback port and forwards to target until
// the test ends.
func newRelay(t testing.TB, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("relay to %s: listen: %v", target, err)
	}
	r := &relay{t: t, ln: ln, target: target, pairs: map[*pair]struct{}{}, closing: make(chan struct{})}
	r.wg.Go(r.accept)
	t.Cleanup(func() {
		close(r.closing)
		_ = ln.Close()
		r.Cut()
		r.wg.Wait()
	})
	return r
}

// Addr is the address clients dial.
func (r *relay) Addr() string { return r.ln.Addr().String() }

// SetDown refuses (accepts and closes at once) new connections and cuts the
// open ones (on), or forwards again (off).
func (r *relay) SetDown(on bool) {
	r.mu.Lock()
	r.down = on
	r.mu.Unlock()
	if on {
		r.Cut()
	}
}

// SetLatency delays every chunk forwarded, both ways, by d.
func (r *relay) SetLatency(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency = d
}

// SetPGHook installs (or with nil removes) the maker of the PostgreSQL
// message hook of each connection opened from now on.
func (r *relay) SetPGHook(h func() pgHook) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pg = h
}

// Cut closes every open connection and returns how many it closed.
func (r *relay) Cut() int {
	r.mu.Lock()
	ps := make([]*pair, 0, len(r.pairs))
	for p := range r.pairs {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
	r.cuts.Add(int64(len(ps)))
	return len(ps)
}

func (r *relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		down, hook := r.down, r.pg
		r.mu.Unlock()
		if down {
			r.refused.Add(1)
			_ = c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			r.refused.Add(1)
			_ = c.Close()
			continue
		}
		r.accepted.Add(1)
		p := &pair{client: c, server: s}
		r.mu.Lock()
		r.pairs[p] = struct{}{}
		r.mu.Unlock()
		var both sync.WaitGroup
		both.Go(func() {
			if hook != nil {
				r.pgForward(p, hook())
			} else {
				r.copy(p, s, c)
			}
		})
		both.Go(func() {
			if hook != nil {
				r.pgBackward(p)
			} else {
				r.copy(p, c, s)
			}
		})
		r.wg.Go(func() {
			both.Wait()
			r.mu.Lock()
			delete(r.pairs, p)
			r.mu.Unlock()
		})
	}
}

// copy forwards src to dst chunk by chunk, with the current latency, and
// closes the pair when either side ends.
func (r *relay) copy(p *pair, dst, src net.Conn) {
	defer p.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.delay()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *relay) delay() {
	r.mu.Lock()
	d := r.latency
	r.mu.Unlock()
	if d > 0 {
		time.Sleep(d) // the fault itself: a slow link
	}
}

// pgForward forwards a PostgreSQL client's messages one by one through
// hook: the untyped startup packets (SSLRequest, GSSENCRequest, the
// startup message), then typed messages (type byte, int32 length).
func (r *relay) pgForward(p *pair, hook pgHook) {
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
			case <-r.closing:
			}
		}
		r.delay()
		if _, err := s.Write(msg); err != nil {
			return
		}
		if cut {
			r.cuts.Add(1)
			return
		}
	}
}

// pgBackward forwards the server's messages to the client, noting the
// backend pid of BackendKeyData ('K'). The client never asks for TLS
// (sslmode=disable), so every server message is typed.
func (r *relay) pgBackward(p *pair) {
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

// queryText returns the SQL of a simple Query ('Q') or a Parse ('P')
// message body, upper-cased and trimmed of spaces and a final semicolon.
func queryText(typ byte, body []byte) string {
	switch typ {
	case 'Q':
	case 'P':
		// Parse: statement name\0 query\0 ...
		i := bytes.IndexByte(body, 0)
		if i < 0 {
			return ""
		}
		body = body[i+1:]
	default:
		return ""
	}
	if i := bytes.IndexByte(body, 0); i >= 0 {
		body = body[:i]
	}
	return strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(string(body))), ";")
}

// commitCutter returns a hook maker whose hooks cut a connection right
// after forwarding a COMMIT — for the extended protocol, after the Sync
// that follows a Parse of COMMIT — while budget allows (each cut takes one
// from it). cuts counts the cuts made.
func commitCutter(budget, cuts *atomic.Int64) func() pgHook {
	take := func() bool {
		for {
			n := budget.Load()
			if n <= 0 {
				return false
			}
			if budget.CompareAndSwap(n, n-1) {
				cuts.Add(1)
				return true
			}
		}
	}
	return func() pgHook {
		armed := false // per connection
		return func(typ byte, body []byte, _ int32) (bool, <-chan struct{}) {
			q := queryText(typ, body)
			isCommit := q == "COMMIT" || q == "END"
			switch {
			case typ == 'Q' && isCommit:
				return take(), nil
			case typ == 'P' && isCommit:
				armed = true
			case typ == 'S' && armed:
				armed = false
				return take(), nil
			}
			return false, nil
		}
	}
}

package dbtest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Relay is an in-process TCP fault proxy for tests: it forwards connections
// from its own loopback address to a server (PostgreSQL, Redis) and, on
// demand, cuts the open connections (Cut), refuses new ones while still
// listening (SetDown), stops listening altogether and listens again on the
// same address (Close, Reopen), delays every chunk forwarded (SetLatency,
// a slow link), cuts a connection right after a client's request
// (CutAfterNextWrite), or inspects each PostgreSQL frontend message a client
// sends (SetPGHook: cut right after a COMMIT, hold a COPY while its backend
// is terminated).
//
// It is ours rather than toxiproxy's so that a test can act at an exact
// protocol message, which toxics cannot. All methods are safe for
// concurrent use.
type Relay struct {
	t      testing.TB
	target string

	mu      sync.Mutex // guards the fields below
	addr    string
	ln      net.Listener // nil while closed
	down    bool
	latency time.Duration
	pairs   map[*pair]struct{}
	// pg, when set, gives each new connection a hook that sees every
	// PostgreSQL frontend message before it is forwarded.
	pg func() PGHook

	cutNext                 atomic.Bool
	accepted, refused, cuts atomic.Int64
	wg                      sync.WaitGroup
}

// RelayOption sets up a Relay at NewRelay; each has a setter to change it
// while the relay runs.
type RelayOption func(*Relay)

// WithLatency delays every chunk forwarded, both ways, by d (see
// Relay.SetLatency).
func WithLatency(d time.Duration) RelayOption { return func(r *Relay) { r.latency = d } }

// WithPGHook inspects the PostgreSQL frontend messages of every connection
// (see Relay.SetPGHook).
func WithPGHook(h func() PGHook) RelayOption { return func(r *Relay) { r.pg = h } }

// WithDown makes the relay start down, refusing connections (see
// Relay.SetDown).
func WithDown() RelayOption { return func(r *Relay) { r.down = true } }

// NewRelay starts a relay to target (host:port) on a free loopback port,
// set up by opts; it is closed, and its goroutines waited for, when the
// test ends.
func NewRelay(t testing.TB, target string, opts ...RelayOption) *Relay {
	t.Helper()
	r := &Relay{t: t, target: target, addr: "127.0.0.1:0", pairs: map[*pair]struct{}{}}
	for _, o := range opts {
		o(r)
	}
	r.Reopen()
	t.Cleanup(r.Close)
	return r
}

// Addr is the host:port clients dial; it stays the same across Close and
// Reopen.
func (r *Relay) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// Accepted is how many connections the relay has forwarded.
func (r *Relay) Accepted() int64 { return r.accepted.Load() }

// Refused is how many connections the relay accepted and closed at once,
// because it was down or the target did not answer.
func (r *Relay) Refused() int64 { return r.refused.Load() }

// Cuts is how many connections the relay has cut: by Cut, SetDown, Close,
// CutAfterNextWrite or a hook.
func (r *Relay) Cuts() int64 { return r.cuts.Load() }

// SetDown, on, refuses new connections (accepts and closes them at once,
// still listening) and cuts the open ones; off, it forwards again.
func (r *Relay) SetDown(on bool) {
	r.mu.Lock()
	r.down = on
	r.mu.Unlock()
	if on {
		r.Cut()
	}
}

// SetLatency delays every chunk forwarded, both ways, by d; 0 stops
// delaying.
func (r *Relay) SetLatency(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency = d
}

// SetPGHook installs (or with nil removes) the maker of the PostgreSQL
// message hook of each connection opened from now on; Cut makes the
// client's pool open new ones.
func (r *Relay) SetPGHook(h func() PGHook) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pg = h
}

// CutAfterNextWrite makes the next request a client sends the last one
// through its connection: it is forwarded to the server, then the
// connection is cut, so the server gets the request and its answer never
// comes back.
func (r *Relay) CutAfterNextWrite() { r.cutNext.Store(true) }

// Cut closes every open connection (a message held by a hook is let go)
// and returns how many it closed.
func (r *Relay) Cut() int {
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

// Close stops listening, so new connections are refused by the operating
// system, and cuts the open ones; it returns once the relay's goroutines
// are gone. Reopen undoes it.
func (r *Relay) Close() {
	r.mu.Lock()
	if r.ln != nil {
		_ = r.ln.Close()
		r.ln = nil
	}
	r.mu.Unlock()
	r.Cut()
	r.wg.Wait()
}

// Reopen listens again on the relay's address after Close; it does nothing
// while the relay listens.
func (r *Relay) Reopen() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("relay to %s: listen on %s: %v", r.target, r.addr, err)
	}
	r.ln, r.addr = ln, ln.Addr().String()
	r.wg.Go(func() { r.accept(ln) })
}

// pair is one relayed connection.
type pair struct {
	client, server net.Conn
	once           sync.Once
	closed         chan struct{} // closed by close: lets a held message go
	backend        atomic.Int32  // PostgreSQL backend pid, from BackendKeyData
}

func (p *pair) close() {
	p.once.Do(func() {
		close(p.closed)
		_ = p.client.Close()
		_ = p.server.Close()
	})
}

func (r *Relay) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
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
		p := &pair{client: c, server: s, closed: make(chan struct{})}
		r.mu.Lock()
		if r.ln != ln { // closed meanwhile
			r.mu.Unlock()
			p.close()
			return
		}
		r.pairs[p] = struct{}{}
		r.mu.Unlock()
		r.accepted.Add(1)
		var both sync.WaitGroup
		both.Go(func() {
			if hook != nil {
				r.pgForward(p, hook())
			} else {
				r.copy(p, s, c, true)
			}
		})
		both.Go(func() {
			if hook != nil {
				r.pgBackward(p)
			} else {
				r.copy(p, c, s, false)
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
// closes the pair when either side ends; upstream is the client to server
// direction.
func (r *Relay) copy(p *pair, dst, src net.Conn, upstream bool) {
	defer p.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			cut := upstream && r.cutAfterWrite()
			if cut {
				// Closed before the server can answer through it.
				_ = p.client.Close()
			}
			r.delay()
			if _, werr := dst.Write(buf[:n]); werr != nil || cut {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// cutAfterWrite reports (once) whether CutAfterNextWrite was asked, and
// counts the cut. The caller closes the client's side before forwarding
// the request, so that no answer can reach the client.
func (r *Relay) cutAfterWrite() bool {
	if r.cutNext.CompareAndSwap(true, false) {
		r.cuts.Add(1)
		return true
	}
	return false
}

func (r *Relay) delay() {
	r.mu.Lock()
	d := r.latency
	r.mu.Unlock()
	if d > 0 {
		time.Sleep(d) // the fault itself: a slow link
	}
}

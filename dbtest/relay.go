package dbtest

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Relay forwards TCP connections to a server (PostgreSQL, Redis) and can be
// taken down — every connection closed, nothing listening, so new ones are
// refused — and brought back on the same address: the server going away
// and returning, seen from its client, without touching the real server.
type Relay struct {
	t      testing.TB
	target string

	mu    sync.Mutex // guards addr, ln and conns
	addr  string
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	cut   atomic.Bool
}

// NewRelay starts a relay to target (host:port) on a free local port; it is
// taken down when the test ends.
func NewRelay(t testing.TB, target string) *Relay {
	r := &Relay{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	r.Up()
	t.Cleanup(r.Down)
	return r
}

// Addr is the relay's host:port.
func (r *Relay) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// Up listens again on the relay's address.
func (r *Relay) Up() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("relay listen %s: %v", r.addr, err)
	}
	r.ln, r.addr = ln, ln.Addr().String()
	r.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", r.target)
			if err != nil {
				_ = in.Close()
				continue
			}
			if !r.track(in, out) {
				return
			}
			r.wg.Go(func() { r.pipe(out, in, true) })
			r.wg.Go(func() { r.pipe(in, out, false) })
		}
	})
}

// CutAfterNextWrite makes the next read from a client the last one: it is
// forwarded to the server, then both connections are closed, so the
// server gets the request and its answer never comes back.
func (r *Relay) CutAfterNextWrite() { r.cut.Store(true) }

// Down closes every connection and stops listening; it returns once the
// relay's goroutines are gone.
func (r *Relay) Down() {
	r.mu.Lock()
	if r.ln != nil {
		_ = r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		_ = c.Close()
		delete(r.conns, c)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// track registers a relayed pair; false when the relay is going down.
func (r *Relay) track(in, out net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		_ = in.Close()
		_ = out.Close()
		return false
	}
	r.conns[in], r.conns[out] = struct{}{}, struct{}{}
	return true
}

// pipe copies src to dst until either fails; upstream is the client to
// server direction.
func (r *Relay) pipe(dst, src net.Conn, upstream bool) {
	defer func() {
		_ = dst.Close()
		_ = src.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			cut := upstream && r.cut.CompareAndSwap(true, false)
			if cut {
				// Closed before the server can answer through it.
				_ = src.Close()
			}
			if _, err := dst.Write(buf[:n]); err != nil || cut {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				r.t.Logf("relay: %v", err)
			}
			return
		}
	}
}

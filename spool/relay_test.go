package spool

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// relay forwards TCP connections to a server and can be cut (every
// connection closed, nothing listening: connections are refused) and
// restored on the same address: the database going down and coming back,
// seen from the writer, without touching the real server.
type relay struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex // guards ln, conns
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newRelay(t *testing.T, target string) *relay {
	r := &relay{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	r.restore()
	t.Cleanup(r.cut)
	return r
}

// restore listens again on the relay's address.
func (r *relay) restore() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("relay listen %s: %v", r.addr, err)
	}
	r.mu.Lock()
	r.ln, r.addr = ln, ln.Addr().String()
	r.mu.Unlock()
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
			r.wg.Go(func() { r.pipe(in, out) })
			r.wg.Go(func() { r.pipe(out, in) })
		}
	})
}

func (r *relay) track(in, out net.Conn) bool {
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

func (r *relay) pipe(dst, src net.Conn) {
	defer func() {
		_ = dst.Close()
		_ = src.Close()
	}()
	if _, err := io.Copy(dst, src); err != nil && !errors.Is(err, net.ErrClosed) {
		r.t.Logf("relay: %v", err)
	}
}

// cut closes every connection and stops listening; it returns once the
// relay's goroutines are gone.
func (r *relay) cut() {
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

package pubsub

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// readBufferSize is the size of a connection's reply buffer: a few
// thousand small replies (PUBLISH answers ":n\r\n", XADD a stream id).
const readBufferSize = 32 << 10

// conn is one connection to Redis speaking RESP2: the sender's writer
// writes whole pipelines with write, its reader reads their replies with
// readReply. One goroutine writes and one reads at a time.
type conn struct {
	nc net.Conn
	rd *bufio.Reader
}

// errProtocol marks a reply the publisher cannot have asked for: the
// connection is out of step and is dropped.
var errProtocol = errors.New("redis protocol error")

// replyError is an error reply ("-ERR …", "-NOPERM …"): Redis refused one
// command, the connection is fine.
type replyError struct{ text string }

func (e *replyError) Error() string { return e.text }

// dial connects to the server of opts (TCP or unix socket, TLS when
// opts.TLSConfig is set) within dialTimeout, then authenticates, selects
// the database and names the connection, in one round trip bounded by
// ioTimeout. A refused AUTH or SELECT is a *replyError.
func dial(ctx context.Context, opts *redis.Options, name string, dialTimeout, ioTimeout time.Duration) (*conn, error) {
	timeout := dialTimeout
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, opts.Network, opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to redis at %s: %w", opts.Addr, err)
	}
	if opts.TLSConfig != nil {
		tc := tls.Client(nc, opts.TLSConfig)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("TLS handshake with redis at %s: %w", opts.Addr, err)
		}
		nc = tc
	}
	c := &conn{nc: nc, rd: bufio.NewReaderSize(nc, readBufferSize)}
	if err := c.handshake(opts, name, ioTimeout); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

// handshake sends AUTH (with the user name when there is one), SELECT
// (database other than 0) and CLIENT SETNAME, pipelined, and checks that
// AUTH and SELECT are answered +OK; a refused CLIENT SETNAME leaves the
// connection unnamed. Without any of them it sends PING, so that a
// connection is only used once the server has answered on it.
func (c *conn) handshake(opts *redis.Options, name string, timeout time.Duration) error {
	var buf []byte
	// what names each command sent; optional ones may be refused (a
	// user without CLIENT permission keeps an unnamed connection).
	var what []string
	var optional []bool
	switch {
	case opts.Password != "" && opts.Username != "":
		buf = appendCommand(buf, "AUTH", opts.Username, opts.Password)
		what, optional = append(what, "authenticate as "+opts.Username), append(optional, false)
	case opts.Password != "":
		buf = appendCommand(buf, "AUTH", opts.Password)
		what, optional = append(what, "authenticate"), append(optional, false)
	}
	if opts.DB != 0 {
		buf = appendCommand(buf, "SELECT", strconv.Itoa(opts.DB))
		what, optional = append(what, "select database "+strconv.Itoa(opts.DB)), append(optional, false)
	}
	if name != "" {
		buf = appendCommand(buf, "CLIENT", "SETNAME", name)
		what, optional = append(what, "name the connection"), append(optional, true)
	}
	if len(what) == 0 {
		buf = appendCommand(buf, "PING")
		what, optional = append(what, "ping"), append(optional, false)
	}
	deadline := time.Now().Add(timeout)
	if err := c.nc.SetDeadline(deadline); err != nil {
		return fmt.Errorf("redis handshake: %w", err)
	}
	if _, err := c.nc.Write(buf); err != nil {
		return fmt.Errorf("redis handshake: %w", err)
	}
	var refused error
	for i, w := range what {
		kind, text, err := c.readReply()
		if err != nil {
			return fmt.Errorf("redis handshake: %s: %w", w, err)
		}
		if kind == '-' && !optional[i] && refused == nil {
			refused = fmt.Errorf("redis handshake: %s: %w", w, &replyError{text: string(text)})
		}
	}
	if refused != nil {
		return refused
	}
	if err := c.nc.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("redis handshake: %w", err)
	}
	return nil
}

// write writes p, a whole pipeline, within timeout.
func (c *conn) write(p []byte, timeout time.Duration) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("send to redis: %w", err)
	}
	if _, err := c.nc.Write(p); err != nil {
		return fmt.Errorf("send to redis: %w", err)
	}
	return nil
}

// readReply reads one reply and returns its type: ':' integer, '$' bulk
// string (or nil), '+' simple string, or '-' error, whose text it returns
// too (valid until the next read). Arrays and unknown types, which none of
// the publisher's commands return, are errProtocol.
func (c *conn) readReply() (kind byte, errText []byte, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, nil, err
	}
	switch kind = line[0]; kind {
	case ':', '+':
		return kind, nil, nil
	case '-':
		return kind, line[1:], nil
	case '$':
		n, ok := parseLen(line[1:])
		if !ok {
			return 0, nil, fmt.Errorf("%w: bulk length %q", errProtocol, line)
		}
		if n >= 0 {
			if _, err := c.rd.Discard(n + 2); err != nil {
				return 0, nil, fmt.Errorf("read redis reply: %w", err)
			}
		}
		return kind, nil, nil
	}
	return 0, nil, fmt.Errorf("%w: unexpected reply %q", errProtocol, line)
}

// readLine returns the next reply line without its CRLF (valid until the
// next read); it is never empty.
func (c *conn) readLine() ([]byte, error) {
	line, err := c.rd.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: reply line longer than %d bytes", errProtocol, readBufferSize)
		}
		return nil, fmt.Errorf("read redis reply: %w", err)
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: malformed reply line %q", errProtocol, line)
	}
	return line[:len(line)-2], nil
}

// parseLen parses a bulk length: -1 (nil) or a non-negative decimal.
func parseLen(b []byte) (int, bool) {
	if bytes.Equal(b, []byte("-1")) {
		return -1, true
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// close closes the connection; the reader and writer blocked on it return
// errors.
func (c *conn) close() error { return c.nc.Close() }

// appendCommand appends a command of string arguments in RESP.
func appendCommand(buf []byte, args ...string) []byte {
	buf = appendHeader(buf, '*', len(args))
	for _, a := range args {
		buf = appendBulk(buf, a)
	}
	return buf
}

// appendHeader appends an array or bulk header: kind, n, CRLF.
func appendHeader(buf []byte, kind byte, n int) []byte {
	buf = append(buf, kind)
	buf = strconv.AppendInt(buf, int64(n), 10)
	return append(buf, '\r', '\n')
}

// appendBulk appends s as a bulk string.
func appendBulk[S string | []byte](buf []byte, s S) []byte {
	buf = appendHeader(buf, '$', len(s))
	buf = append(buf, s...)
	return append(buf, '\r', '\n')
}

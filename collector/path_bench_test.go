package collector_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/dispatch"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/validate"
)

// BenchmarkRecordPath drives Binance frames through the whole record path
// in process: gorilla's reader over a connection held in memory, the
// collector's frame buffer, the Binance adapter's decoding, the router
// (deduplication, gap detection, the clock skew estimate, status) and a
// real pipeline with the real validator and an in-process dispatcher
// without subscribers, up to a store and a publisher that take every
// record and do nothing. Two symbols alternate; each sends a closed 1m
// kline after every nine trades. One op is one frame, which is one
// record: ns/op and allocs/op are per record.
func BenchmarkRecordPath(b *testing.B) {
	syms := []market.Symbol{"BTC-USDT", "ETH-USDT"}
	var streams []market.Stream
	for _, s := range syms {
		streams = append(streams, market.Stream{Exchange: market.Binance, Symbol: s, Type: market.TypeTrade},
			market.Stream{Exchange: market.Binance, Symbol: s, Type: market.TypeCandle, Timeframe: market.TF1m})
	}
	skew := collector.NewClockSkew()
	v, err := validate.New(validate.Config{ClockOffset: skew.Offset}, nil)
	if err != nil {
		b.Fatal(err)
	}
	st := &nopStore{}
	pipe, err := pipeline.New(pipeline.Config{Checker: v, Store: st, Publisher: nopPublisher{}, Subscribers: dispatch.New(nil)})
	if err != nil {
		b.Fatal(err)
	}
	proto, err := binance.New(binance.Config{WSURL: "ws://127.0.0.1:1"})
	if err != nil {
		b.Fatal(err)
	}
	c, err := collector.New(collector.Config{Name: "bench", Streams: streams, ClockSkew: skew}, proto, pipe)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	session := c.NextSession()
	gen := newBinanceFrames([]string{"btcusdt", "ethusdt"})
	const batch = 8192
	b.ReportAllocs()
	b.StopTimer()
	var cpu time.Duration // spent reading, decoding and routing
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		mc := &memConn{in: gen.frames(n)}
		d := websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) { return mc, nil }}
		conn, _, err := d.DialContext(ctx, "ws://127.0.0.1:1/stream", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cpu0 := processCPU(b)
		err = c.ReadSession(ctx, conn, session)
		cpu += processCPU(b) - cpu0
		b.StopTimer()
		_ = conn.Close()
		if !websocket.IsCloseError(errors.Unwrap(err), websocket.CloseAbnormalClosure) {
			b.Fatalf("read %d frames: %v", n, err)
		}
		done += n
		if st.written != done {
			b.Fatalf("%d records stored of %d frames (%d rejected)", st.written, done, st.rejected)
		}
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The pipeline takes the frames' clock readings.
var _ collector.StampedSink = (*pipeline.Pipeline)(nil)

// nopStore takes every record and counts them.
type nopStore struct{ written, rejected int }

func (*nopStore) Admit(market.Record) error { return nil }
func (s *nopStore) Write(context.Context, market.Record) error {
	s.written++
	return nil
}

func (s *nopStore) Reject(context.Context, market.Reject) error {
	s.rejected++
	return nil
}

// nopPublisher publishes nothing.
type nopPublisher struct{}

func (nopPublisher) Publish(market.Record) {}

// binanceFrames writes server WebSocket frames of Binance's combined
// streams: the symbols in turn, each sending a closed 1m kline after every
// nine trades, with sequential trade ids and times moving on.
type binanceFrames struct {
	names []string // lower-case Binance symbols
	n     []int    // frames written per symbol
	buf   []byte
	msg   []byte
	next  int
}

func newBinanceFrames(names []string) *binanceFrames {
	return &binanceFrames{names: names, n: make([]int, len(names))}
}

// base is the time of the first trade and the open time of the first kline.
var base = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// frames returns the next n frames; the slice is reused by the next call.
func (g *binanceFrames) frames(n int) []byte {
	g.buf = g.buf[:0]
	for range n {
		i := g.next % len(g.names)
		g.next++
		name, j := g.names[i], g.n[i]
		g.n[i]++
		m := g.msg[:0]
		if j%10 == 9 {
			k := int64(j / 10)
			open := base + k*60_000
			m = append(m, `{"stream":"`...)
			m = append(m, name...)
			m = append(m, `@kline_1m","data":{"e":"kline","E":`...)
			m = strconv.AppendInt(m, open+60_000, 10)
			m = append(m, `,"s":"`...)
			m = appendUpper(m, name)
			m = append(m, `","k":{"t":`...)
			m = strconv.AppendInt(m, open, 10)
			m = append(m, `,"T":`...)
			m = strconv.AppendInt(m, open+59_999, 10)
			m = append(m, `,"s":"`...)
			m = appendUpper(m, name)
			m = append(m, `","i":"1m","f":`...)
			m = strconv.AppendInt(m, 3_000_000_000+k*9, 10)
			m = append(m, `,"L":`...)
			m = strconv.AppendInt(m, 3_000_000_000+k*9+8, 10)
			m = append(m, `,"o":"42219.90000000","c":"42220.10000000","h":"42221.00000000","l":"42219.10000000","v":"0.01107000","n":9,"x":true,"q":"467.37500000","V":"0.00500000","Q":"211.10000000","B":"0"}}}`...)
		} else {
			id := 3_000_000_000 + int64(j-j/10)
			at := base + int64(j)*6_000
			m = append(m, `{"stream":"`...)
			m = append(m, name...)
			m = append(m, `@trade","data":{"e":"trade","E":`...)
			m = strconv.AppendInt(m, at, 10)
			m = append(m, `,"s":"`...)
			m = appendUpper(m, name)
			m = append(m, `","t":`...)
			m = strconv.AppendInt(m, id, 10)
			m = append(m, `,"p":"42219.90000000","q":"0.00123000","T":`...)
			m = strconv.AppendInt(m, at, 10)
			m = append(m, `,"m":`...)
			m = strconv.AppendBool(m, j%2 == 0)
			m = append(m, `,"M":true}}`...)
		}
		g.msg = m
		g.buf = append(g.buf, 0x81) // final text frame, unmasked
		if len(m) < 126 {
			g.buf = append(g.buf, byte(len(m)))
		} else {
			g.buf = append(g.buf, 126, byte(len(m)>>8), byte(len(m)))
		}
		g.buf = append(g.buf, m...)
	}
	return g.buf
}

func appendUpper(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b = append(b, s[i]-'a'+'A')
	}
	return b
}

// memConn is a client's connection to a WebSocket server held in memory:
// it answers the opening handshake, then serves in, then io.EOF. What the
// client sends after the handshake is discarded.
type memConn struct {
	req  []byte
	resp []byte
	in   []byte
}

func (c *memConn) Read(p []byte) (int, error) {
	if len(c.resp) > 0 {
		n := copy(p, c.resp)
		c.resp = c.resp[n:]
		return n, nil
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	if c.req == nil || !bytes.Contains(c.req, []byte("\r\n\r\n")) {
		c.req = append(c.req, p...)
		if bytes.Contains(c.req, []byte("\r\n\r\n")) {
			c.resp = handshakeResponse(c.req)
		}
	}
	return len(p), nil
}

// handshakeResponse accepts the opening handshake req.
func handshakeResponse(req []byte) []byte {
	var key string
	for _, line := range bytes.Split(req, []byte("\r\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && string(bytes.ToLower(k)) == "sec-websocket-key" {
			key = string(bytes.TrimSpace(v))
		}
	}
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n")
}

func (*memConn) Close() error                     { return nil }
func (*memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (*memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (*memConn) SetDeadline(time.Time) error      { return nil }
func (*memConn) SetReadDeadline(time.Time) error  { return nil }
func (*memConn) SetWriteDeadline(time.Time) error { return nil }

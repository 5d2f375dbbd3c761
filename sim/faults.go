package sim

import (
	"bytes"
	"errors"
	"fmt"

	"marketetl/market"
)

// Faults, safe to call while serving and generating.

// ErrUnknownMarket is returned for an exchange or symbol the simulator
// does not have.
var ErrUnknownMarket = errors.New("unknown market")

// ErrUnsupported is returned for a fault the exchange's protocol has no
// way to express.
var ErrUnsupported = errors.New("not supported by this exchange")

// connsOf returns the open connections of ex. s.mu is held.
func (s *Sim) connsOf(ex market.Exchange) []*conn {
	out := make([]*conn, 0, len(s.conns[ex]))
	for c := range s.conns[ex] {
		out = append(out, c)
	}
	return out
}

// DropConnections closes every WebSocket connection of ex at the TCP
// level, without a close frame, and returns how many it closed.
func (s *Sim) DropConnections(ex market.Exchange) int {
	s.mu.Lock()
	cs := s.connsOf(ex)
	s.mu.Unlock()
	for _, c := range cs {
		c.drop()
	}
	if n := s.counters[ex]; n != nil {
		n.dropped.Add(int64(len(cs)))
	}
	return len(cs)
}

// Stall stops (on) or resumes (off) the data pushes of ex: trades,
// candles and tickers are still generated, recorded and served by REST,
// but not pushed, and no ticker is published. Acknowledgements, errors,
// pongs, Binance pings and Coinbase heartbeats go on; OKX connections
// then close after OKXIdleTimeout unless the client pings.
func (s *Sim) Stall(ex market.Exchange, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalled[ex] = on
}

// RejectConnections makes WebSocket upgrades of ex fail with HTTP 503
// (on) or succeed again (off). Open connections are not affected.
func (s *Sim) RejectConnections(ex market.Exchange, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejecting[ex] = on
}

// SendRaw queues frame as a text frame on every connection of ex, in
// order with the data, and returns the number of connections.
func (s *Sim) SendRaw(ex market.Exchange, frame []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.connsOf(ex)
	for _, c := range cs {
		c.send(bytes.Clone(frame))
	}
	return len(cs)
}

// SendOversized queues a well-formed JSON text frame of exactly size bytes
// ({"pad":"xxx…"}, at least 10) on every connection of ex and returns the
// number of connections.
func (s *Sim) SendOversized(ex market.Exchange, size int) int {
	size = max(size, 10)
	frame := make([]byte, 0, size)
	frame = append(frame, `{"pad":"`...)
	frame = append(frame, bytes.Repeat([]byte("x"), size-10)...)
	frame = append(frame, `"}`...)
	return s.SendRaw(ex, frame)
}

// JumpTradeID makes the next trade id of a market n higher than it would
// have been: the skipped trades never exist, on the stream or in REST.
func (s *Sim) JumpTradeID(ex market.Exchange, sym market.Symbol, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instrument(ex, sym)
	if in == nil {
		return fmt.Errorf("jump trade id of %s %s: %w", ex, sym, ErrUnknownMarket)
	}
	if n < 0 {
		return fmt.Errorf("jump trade id of %s %s: n %d must not be negative", ex, sym, n)
	}
	in.nextID += n
	return nil
}

// InjectInvalidTrade publishes, at the current exchange time and even
// during a stall, a well-formed trade with an invalid value: alternately a
// zero size and a price of -1. It takes the next trade id, is recorded by
// InvalidTrades and is left out of Trades, candles, tickers and REST.
func (s *Sim) InjectInvalidTrade(ex market.Exchange, sym market.Symbol) (market.Trade, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instrument(ex, sym)
	if in == nil {
		return market.Trade{}, fmt.Errorf("inject invalid trade on %s %s: %w", ex, sym, ErrUnknownMarket)
	}
	tr := in.invalidTrade(s.clock)
	switch ex {
	case market.OKX:
		in.seq++
		topic := "trades:" + in.native
		s.fanout(ex, topic, encode(okxPush{Arg: okxArg{Channel: "trades", InstID: in.native}, Data: []okxTrade{okxTradeOf(in, &tr, in.seq)}}))
	case market.Binance:
		s.binancePublish(in, &tr, nil, nil, true)
	case market.Coinbase:
		s.coinbasePublish(in, &tr, nil, true)
	}
	return in.invalid[len(in.invalid)-1], nil
}

// AnnounceShutdown sends the exchange's notice of an imminent disconnect
// to every connection of ex: OKX's 64008 notice, Binance's serverShutdown
// event. Coinbase has none: ErrUnsupported. It does not close anything.
func (s *Sim) AnnounceShutdown(ex market.Exchange) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ex {
	case market.OKX:
		cs := s.connsOf(ex)
		for _, c := range cs {
			c.send(encode(okxNotice{Event: "notice", Code: okxNoticeCode, Msg: okxNoticeMsg, ConnID: c.id}))
		}
		return len(cs), nil
	case market.Binance:
		s.binanceShutdownEvent()
		return len(s.conns[ex]), nil
	}
	return 0, fmt.Errorf("announce shutdown on %s: %w", ex, ErrUnsupported)
}

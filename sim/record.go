package sim

import (
	"context"
	"fmt"

	"marketetl/market"
)

// The recorder: what the simulator generated, as marketetl's market types,
// so that tests can compare what a client stored with the truth.
//
// Trades and closed candles are the exchange's history: they include what
// was generated during a stall (not pushed, but served by REST). Tickers
// are those published (not during a stall). Invalid trades are published
// and kept apart.

// Trades returns the valid trades of a market, oldest first, with the
// taker's side.
func (s *Sim) Trades(ex market.Exchange, sym market.Symbol) []market.Trade {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instrument(ex, sym)
	if in == nil {
		return nil
	}
	out := make([]market.Trade, len(in.trades))
	for i := range in.trades {
		out[i] = in.toMarket(&in.trades[i])
	}
	return out
}

// InvalidTrades returns the trades injected by InjectInvalidTrade, oldest
// first: published, but with a value a validator must reject.
func (s *Sim) InvalidTrades(ex market.Exchange, sym market.Symbol) []market.Trade {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instrument(ex, sym)
	if in == nil {
		return nil
	}
	return append([]market.Trade(nil), in.invalid...)
}

// ClosedCandles returns the closed candles of a market and timeframe,
// oldest first, with the fields the exchange sends (QuoteVolume for OKX
// and Binance, Trades for Binance, else -1). Coinbase candles are those of
// its REST API.
func (s *Sim) ClosedCandles(ex market.Exchange, sym market.Symbol, tf market.Timeframe) []market.Candle {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.seriesOf(ex, sym, tf)
	if sr == nil {
		return nil
	}
	out := make([]market.Candle, len(sr.closed))
	for i := range sr.closed {
		out[i] = sr.closed[i].toMarket(ex, sym, tf, true)
	}
	return out
}

// FormingCandle returns the candle of a market and timeframe that is still
// open, if any.
func (s *Sim) FormingCandle(ex market.Exchange, sym market.Symbol, tf market.Timeframe) (market.Candle, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.seriesOf(ex, sym, tf)
	if sr == nil || !sr.has {
		return market.Candle{}, false
	}
	return sr.cur.toMarket(ex, sym, tf, false), true
}

// seriesOf returns the UTC series of tf, or nil. s.mu is held.
func (s *Sim) seriesOf(ex market.Exchange, sym market.Symbol, tf market.Timeframe) *series {
	in := s.instrument(ex, sym)
	if in == nil {
		return nil
	}
	for _, sr := range in.series {
		if sr.frame.tf == tf {
			return sr
		}
	}
	return nil
}

// Tickers returns the latest published tickers of a market (at most
// Config.TickerHistory), oldest first, with the fields the exchange sends.
func (s *Sim) Tickers(ex market.Exchange, sym market.Symbol) []market.Ticker {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instrument(ex, sym)
	if in == nil {
		return nil
	}
	return in.recentTickers()
}

// Counts are an exchange's totals.
type Counts struct {
	// Trades, InvalidTrades, ClosedCandles (all timeframes) and Tickers
	// (published, including those no longer kept) over all markets.
	Trades, InvalidTrades, ClosedCandles, Tickers int
	// Connections open now; Connects accepted in all; Rejected upgrades
	// (RejectConnections); Slow connections dropped for a full queue;
	// Dropped by DropConnections.
	Connections                       int
	Connects, Rejected, Slow, Dropped int64
	// Frames is the number of text frames written.
	Frames int64
}

// Counts returns the totals of ex.
func (s *Sim) Counts(ex market.Exchange) Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n Counts
	for _, in := range s.instruments[ex] {
		n.Trades += len(in.trades)
		n.InvalidTrades += len(in.invalid)
		n.Tickers += in.tickerCount
		for _, sr := range in.series {
			if sr.frame.tf != "" {
				n.ClosedCandles += len(sr.closed)
			}
		}
	}
	n.Connections = len(s.conns[ex])
	if c := s.counters[ex]; c != nil {
		n.Connects, n.Rejected = c.connects.Load(), c.rejected.Load()
		n.Slow, n.Dropped, n.Frames = c.slow.Load(), c.dropped.Load(), c.frames.Load()
	}
	return n
}

// Connections returns the number of open WebSocket connections of ex.
func (s *Sim) Connections(ex market.Exchange) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns[ex])
}

// WaitConnections returns once ex has exactly n open WebSocket
// connections, or ctx's error.
func (s *Sim) WaitConnections(ctx context.Context, ex market.Exchange, n int) error {
	if err := s.await(ctx, func() bool { return len(s.conns[ex]) == n }); err != nil {
		return fmt.Errorf("wait for %d %s connections: %w", n, ex, err)
	}
	return nil
}

// WaitConnects returns once ex has accepted at least n WebSocket
// connections since the start, or ctx's error.
func (s *Sim) WaitConnects(ctx context.Context, ex market.Exchange, n int64) error {
	c := s.counters[ex]
	if c == nil {
		return fmt.Errorf("wait for %s connects: unknown exchange", ex)
	}
	if err := s.await(ctx, func() bool { return c.connects.Load() >= n }); err != nil {
		return fmt.Errorf("wait for %d %s connects: %w", n, ex, err)
	}
	return nil
}

// WaitTrades returns once a market has at least n valid trades, or ctx's
// error. It is meant for Run with a Rate; Step itself is synchronous.
func (s *Sim) WaitTrades(ctx context.Context, ex market.Exchange, sym market.Symbol, n int) error {
	if err := s.await(ctx, func() bool {
		in := s.instrument(ex, sym)
		return in != nil && len(in.trades) >= n
	}); err != nil {
		return fmt.Errorf("wait for %d %s %s trades: %w", n, ex, sym, err)
	}
	return nil
}

// WaitSubscribed returns once some connection has subscribed the
// exchange's channel for stream, or ctx's error. A Coinbase candle stream
// waits for the matches channel, which clients build candles from.
func (s *Sim) WaitSubscribed(ctx context.Context, stream market.Stream) error {
	topics, err := streamTopics(stream)
	if err != nil {
		return fmt.Errorf("wait for subscription %s: %w", stream, err)
	}
	if err := s.await(ctx, func() bool {
		for _, t := range topics {
			if s.subscribed(stream.Exchange, t) {
				return true
			}
		}
		return false
	}); err != nil {
		return fmt.Errorf("wait for subscription %s: %w", stream, err)
	}
	return nil
}

// WaitUnsubscribed returns once no connection is subscribed to the
// exchange's channel for stream any more, or ctx's error.
func (s *Sim) WaitUnsubscribed(ctx context.Context, stream market.Stream) error {
	topics, err := streamTopics(stream)
	if err != nil {
		return fmt.Errorf("wait for unsubscription %s: %w", stream, err)
	}
	if err := s.await(ctx, func() bool {
		for _, t := range topics {
			if s.subscribed(stream.Exchange, t) {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("wait for unsubscription %s: %w", stream, err)
	}
	return nil
}

// Subscribed reports whether some connection has subscribed the exchange's
// channel for stream.
func (s *Sim) Subscribed(stream market.Stream) bool {
	topics, err := streamTopics(stream)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range topics {
		if s.subscribed(stream.Exchange, t) {
			return true
		}
	}
	return false
}

// streamTopics returns the exchange topics (channel and symbol) that carry
// stream; any of them will do.
func streamTopics(st market.Stream) ([]string, error) {
	if err := st.Check(); err != nil {
		return nil, err
	}
	switch st.Exchange {
	case market.OKX:
		return okxStreamTopics(st)
	case market.Binance:
		return binanceStreamTopics(st)
	case market.Kraken:
		return krakenStreamTopics(st)
	default:
		return coinbaseStreamTopics(st)
	}
}

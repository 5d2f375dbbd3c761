package sim

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

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
	case market.Kraken:
		s.krakenPublish(in, &tr, nil, nil, true)
	}
	return in.invalid[len(in.invalid)-1], nil
}

// AnnounceShutdown sends the exchange's notice of an imminent disconnect
// to every connection of ex that the exchange sends it on, and returns
// how many: OKX's 64008 notice (public and private connections, not
// business ones), Binance's serverShutdown event (market data and
// WebSocket API connections, each in its format). Coinbase has none:
// ErrUnsupported. It does not close anything.
func (s *Sim) AnnounceShutdown(ex market.Exchange) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ex {
	case market.OKX:
		// overview-websocket-notification: the notice "is supported by
		// WebSocket Public (/ws/v5/public) and Private (/ws/v5/private)
		// for now": business connections get none.
		n := 0
		for _, c := range s.connsOf(ex) {
			if o, ok := c.sess.(*okxSession); ok && o.business {
				continue
			}
			c.send(encode(okxNotice{Event: "notice", Code: okxNoticeCode, Msg: okxNoticeMsg, ConnID: c.id}))
			n++
		}
		return n, nil
	case market.Binance:
		s.binanceShutdownEvent()
		return len(s.conns[ex]), nil
	}
	return 0, fmt.Errorf("announce shutdown on %s: %w", ex, ErrUnsupported)
}

// restFault is the REST behaviour of one exchange set by SetHistoryHorizon
// and ThrottleREST. Guarded by s.mu.
type restFault struct {
	// horizon: trades and candles (by open time) before it are not served.
	horizon time.Time
	// throttle is how many more REST requests are answered 429, each with
	// Retry-After retryAfter (whole seconds; none when 0).
	throttle   int
	retryAfter time.Duration
	// requests records when each REST request arrived (Config.Now) and
	// whether it was throttled.
	requests []RESTRequest
	// down and banUntil: see SetRESTDown and BanREST (restdown.go).
	down     RESTOutage
	banUntil time.Time
}

// RESTRequest is one REST request the simulator received.
type RESTRequest struct {
	Path      string
	At        time.Time
	Throttled bool
	// Banned: answered 418 (BanREST); Failed: answered 503 or cut
	// (SetRESTDown).
	Banned, Failed bool
}

// fault returns the REST fault state of ex, creating it. s.mu is held.
func (s *Sim) fault(ex market.Exchange) *restFault {
	if s.restFaults == nil {
		s.restFaults = make(map[market.Exchange]*restFault)
	}
	f := s.restFaults[ex]
	if f == nil {
		f = &restFault{}
		s.restFaults[ex] = f
	}
	return f
}

// SetHistoryHorizon makes the REST history of ex serve no trade older than
// t and no candle opening before t, as the real exchanges keep a limited
// history; the zero time serves everything again. Each endpoint then
// answers as it does for any range it has nothing for: OKX history-trades
// and candles an empty page, Binance historicalTrades (fromId) and klines
// (startTime) from the oldest kept, Coinbase the pages it still has,
// Kraken Trades and OHLC from the oldest kept.
// Trades and ClosedCandles still return the whole truth.
func (s *Sim) SetHistoryHorizon(ex market.Exchange, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(ex).horizon = t
}

// ThrottleREST answers the next n REST requests of ex with HTTP 429 in the
// exchange's format (Binance -1003, OKX 50011, Coinbase "Public rate limit
// exceeded"; Kraken HTTP 200 "EAPI:Rate limit exceeded") and, when
// retryAfter > 0, a Retry-After header in whole seconds.
func (s *Sim) ThrottleREST(ex market.Exchange, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault(ex)
	f.throttle, f.retryAfter = n, retryAfter
}

// RESTRequests returns the REST requests of ex received so far, in order.
func (s *Sim) RESTRequests(ex market.Exchange) []RESTRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restFaults == nil || s.restFaults[ex] == nil {
		return nil
	}
	return append([]RESTRequest(nil), s.restFaults[ex].requests...)
}

// servedTrades returns the trades of in that REST serves. s.mu is held.
func (s *Sim) servedTrades(in *instrument) []trade {
	f := s.restFaults[in.ex]
	if f == nil || f.horizon.IsZero() {
		return in.trades
	}
	i := sort.Search(len(in.trades), func(i int) bool { return !in.trades[i].time.Before(f.horizon) })
	return in.trades[i:]
}

// servedCandles returns the candles of ex that REST serves. s.mu is held.
func (s *Sim) servedCandles(ex market.Exchange, all []candle) []candle {
	f := s.restFaults[ex]
	if f == nil || f.horizon.IsZero() {
		return all
	}
	i := sort.Search(len(all), func(i int) bool { return !all[i].open.Before(f.horizon) })
	return all[i:]
}

// binanceWeightLimitMsg is -1003's message for an exceeded request weight
// (errors.md), with the limit of the documents' exchangeInfo example.
const binanceWeightLimitMsg = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."

// restGate records REST requests and answers the throttled ones with 429;
// WebSocket upgrades pass through.
func (s *Sim) restGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ex market.Exchange
		switch {
		case strings.HasPrefix(r.URL.Path, "/okx/api/"):
			ex = market.OKX
		case strings.HasPrefix(r.URL.Path, "/binance/api/"):
			ex = market.Binance
		case strings.HasPrefix(r.URL.Path, "/coinbase/products/"):
			ex = market.Coinbase
		case strings.HasPrefix(r.URL.Path, "/kraken/0/"):
			ex = market.Kraken
		default:
			next.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		// The exchange's clock, as a real exchange's HTTP server dates its
		// answers (whole seconds): the market data's clock.
		w.Header().Set("Date", s.clock.UTC().Format(http.TimeFormat))
		f := s.fault(ex)
		if s.restOutage(w, r, ex, f) { // unlocks s.mu
			return
		}
		throttled := f.throttle > 0
		if throttled {
			f.throttle--
		}
		retryAfter := f.retryAfter
		f.requests = append(f.requests, RESTRequest{Path: r.URL.Path, At: s.cfg.Now(), Throttled: throttled})
		s.mu.Unlock()
		if !throttled {
			next.ServeHTTP(w, r)
			return
		}
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
		}
		switch ex {
		case market.OKX:
			writeJSON(w, http.StatusTooManyRequests, okxResponse{Code: "50011", Msg: "Too Many Requests", Data: []any{}})
		case market.Binance:
			// errors.md, -1003 TOO_MANY_REQUESTS: "Too much request weight used;
			// current limit is %s request weight per %s. Please use WebSocket
			// Streams for live updates to avoid polling the API."
			writeJSON(w, http.StatusTooManyRequests, binanceErrorBody{Code: -1003, Msg: binanceWeightLimitMsg})
		case market.Kraken:
			// Kraken answers errors with HTTP 200 and its error strings.
			writeJSON(w, http.StatusOK, krakenEnvelope{Error: []string{"EAPI:Rate limit exceeded"}})
		default:
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "Public rate limit exceeded"})
		}
	})
}

package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"marketetl/market"
)

// Protocol is what one exchange adapter speaks over WebSocket. An adapter
// speaks protocol only: it builds frames and decodes frames; it never dials,
// sleeps, retries or keeps state that needs a lock. The generic loop in this
// package owns the connections. A Protocol's methods may be called from
// several connection goroutines at once and must not share mutable state.
type Protocol interface {
	// Exchange names the exchange.
	Exchange() market.Exchange

	// Plan spreads streams over WebSocket connections. It is called with the
	// full set of wanted streams at start and after every change; it returns
	// an error for a stream the exchange cannot serve (say, an unsupported
	// timeframe). A plan's Key is stable: the same key in a later plan means
	// the same connection, which is then kept and sent Subscribe/Unsubscribe
	// frames for the difference. Streams the exchange does not stream itself
	// (Coinbase candles) are mapped by the adapter to the streams it needs
	// (Coinbase trades) and listed in Derived.
	Plan(streams []market.Stream) ([]ConnPlan, error)

	// Subscribe returns the text frames that subscribe streams on the
	// connection described by plan, right after dialing (all of
	// plan.Streams) or at runtime (the added ones). id is a fresh request id
	// that the adapter may use. It returns no frames when the URL already
	// carries the subscription.
	Subscribe(plan ConnPlan, streams []market.Stream, id uint64) ([][]byte, error)

	// Unsubscribe returns the text frames that unsubscribe streams at runtime.
	Unsubscribe(plan ConnPlan, streams []market.Stream, id uint64) ([][]byte, error)

	// Decode parses one text frame read at received (UTC) into ev, which the
	// caller has Reset. Records are appended to ev.Records. A frame that is
	// not understood returns a *DecodeError; ev may still hold records
	// decoded before the fault. Decode never panics on any input. frame
	// is the reader's buffer, overwritten by the next frame: nothing Decode
	// leaves in ev or returns may refer to its bytes (strings and decimals
	// made from them are copies; adaptertest.AliasProblem checks it).
	Decode(frame []byte, received time.Time, ev *Event) error

	// KeepAlive says how this exchange's connections are kept alive.
	KeepAlive() KeepAlive
}

// ConnPlan is one WebSocket connection of an adapter.
type ConnPlan struct {
	// Key identifies the connection across plans ("public", "business", "0").
	Key string
	// URL is the full URL to dial.
	URL string
	// Streams are the exchange streams subscribed on this connection.
	Streams []market.Stream
	// URLCarriesStreams is true when URL itself subscribes Streams (Binance
	// combined streams): the loop then does not call Subscribe after
	// dialing. Runtime changes still go through Subscribe/Unsubscribe, and a
	// redial uses the URL of the latest plan.
	URLCarriesStreams bool
	// Aggregated lists candle streams that the exchange does not stream
	// (Coinbase): the loop builds them from this connection's trades of the
	// same symbol, which the plan subscribes in Streams.
	Aggregated []market.Stream
}

// KeepAlive describes an exchange's keep-alive rules.
type KeepAlive struct {
	// PingText, when non-empty, is a text frame the loop sends after
	// PingAfter without any incoming message (OKX: "ping"); the exchange
	// answers with a frame that Decode reports as Event.Pong.
	PingText  string
	PingAfter time.Duration
	// ReadTimeout is the longest silence (no frame, no ping, no pong) after
	// which the connection is considered dead and redialled.
	ReadTimeout time.Duration
	// MaxLifetime, when non-zero, is how long a connection may live before the
	// exchange cuts it (Binance: 24 h); the loop dials a replacement before
	// then and switches over without a gap.
	MaxLifetime time.Duration
	// SubscribeWithin, when non-zero, is how soon after connecting the
	// subscribe frame must be sent (Coinbase: 5 s). Informational.
	SubscribeWithin time.Duration
	// MaxSendPerSecond, when non-zero, bounds the frames the loop sends on
	// one connection per second, pings and pongs included (Binance: 5).
	MaxSendPerSecond float64
}

// Event is what Decode found in one frame.
type Event struct {
	// Records decoded from the frame, in order.
	Records []market.Record
	// Books are the order book messages decoded from the frame, in order,
	// for the collector's book keepers (adapters keep no book state).
	Books []BookMessage
	// Acked lists streams whose subscription the exchange confirmed, when
	// the acknowledgement names them.
	Acked []market.Stream
	// AckID is the request id of an acknowledgement that does not name its
	// streams (Binance {"result":null,"id":N}); 0 if none.
	AckID uint64
	// Err is a refusal sent by the exchange (a subscribe error event); nil
	// when none. It is an *ExchangeError.
	Err *ExchangeError
	// Pong is true when the frame answers our PingText.
	Pong bool
	// Heartbeat is true for an exchange heartbeat (Coinbase "heartbeat"):
	// proof that the connection lives, not market data. HeartbeatTime is the
	// exchange time it carries, and HeartbeatStream the stream it is for.
	Heartbeat       bool
	HeartbeatTime   time.Time
	HeartbeatStream market.Stream
	// Reconnect is true when the exchange announced that it will close the
	// connection (OKX notice 64008, Binance serverShutdown): the collector
	// dials a replacement and closes this connection once the replacement
	// delivers, reading it meanwhile.
	Reconnect bool
	// Ignored is true for a frame the adapter recognised and deliberately
	// ignores (an unknown type that the exchange says clients must ignore).
	Ignored bool
	// LoggedIn is true when the frame confirms the login of an
	// Authenticator's connection.
	LoggedIn bool
}

// Reset clears ev for reuse, keeping the Records slice's capacity.
func (ev *Event) Reset() {
	recs := ev.Records[:0]
	acked := ev.Acked[:0]
	bks := ev.Books[:0]
	*ev = Event{Records: recs, Acked: acked, Books: bks}
}

// ExchangeError is a refusal sent by the exchange, with its own code and
// message (OKX {"event":"error","code":"60018",...}, Binance
// {"error":{"code":2,...}}, Coinbase {"type":"error","message":...,"reason":...}).
type ExchangeError struct {
	Exchange market.Exchange
	// Code is the exchange's code as text ("60018", "2"), empty if none.
	Code string
	// Message is the exchange's message (and Coinbase's reason).
	Message string
	// Stream is the stream the error is about, when the exchange says so.
	Stream market.Stream
	// Permanent is true when retrying the same request cannot succeed (an
	// unknown instrument, a channel on the wrong URL, bad credentials).
	Permanent bool
	// UnknownCode is true when the adapter does not know Code: the
	// exchange may have changed its API (a protocol anomaly).
	UnknownCode bool
}

// Error implements error.
func (e *ExchangeError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s error %s: %s", e.Exchange, e.Code, e.Message)
	}
	return fmt.Sprintf("%s error: %s", e.Exchange, e.Message)
}

// DecodeError is a frame that could not be decoded. Reason is a stable
// snake_case code (malformed_json, unknown_channel, bad_field, bad_number,
// bad_timestamp, unknown_symbol, ...).
type DecodeError struct {
	// Stream holds what was known of the frame's stream (possibly only the
	// exchange).
	Stream market.Stream
	Reason string
	// Field names the JSON field at fault, if any.
	Field string
	Err   error
}

// Error implements error.
func (e *DecodeError) Error() string {
	s := "decode " + string(e.Stream.Exchange) + " frame: " + e.Reason
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Decode error reasons shared by the adapters.
const (
	ReasonMalformedJSON  = "malformed_json"
	ReasonUnknownChannel = "unknown_channel"
	ReasonUnknownSymbol  = "unknown_symbol"
	ReasonBadField       = "bad_field"
	ReasonBadNumber      = "bad_number"
	ReasonBadTimestamp   = "bad_timestamp"
	ReasonOversizedFrame = "oversized_frame"
)

// ErrPermanent marks an error that retrying cannot cure (bad configuration,
// bad credentials, an instrument the exchange does not have). The
// supervisor does not restart a collector that returns it.
var ErrPermanent = errors.New("permanent")

// RetryAfterError asks the caller to wait at least After before the next
// request (HTTP 429 with Retry-After, Binance 418).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

// Error implements error.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}

// Unwrap returns the underlying error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// History is an exchange's REST market history, used for backfill and for
// reconciling closed candles. Each call is one HTTP request (one page); the
// caller pages and owns rate limiting and retries. Errors: a
// *RetryAfterError when the exchange asks to slow down; an error wrapping
// ErrPermanent when the request cannot succeed (unknown symbol, unsupported
// timeframe); any other error is transient.
type History interface {
	// Candles returns the closed candles of sym and tf whose open time is in
	// [from, to), oldest first, at most one page of them (the exchange's
	// page size). A candle that is still forming is never returned. An
	// empty result means there is none in the range.
	Candles(ctx context.Context, sym market.Symbol, tf market.Timeframe, from, to time.Time) ([]market.Candle, error)
	// Trades returns trades of sym with a numeric trade id greater than
	// afterID, oldest first, at most limit of them (capped to the
	// exchange's page size).
	Trades(ctx context.Context, sym market.Symbol, afterID int64, limit int) ([]market.Trade, error)
}

// TimedHistory is implemented by a History whose exchange pages its trade
// history by time and not by trade id (Kraken's Trades "since"): the
// backfill then fills trade gaps with TradesSince, from the gap's start
// time, and never calls Trades.
type TimedHistory interface {
	// TradesSince returns one page of sym's trades executed at or after
	// since (the exchange may include a little earlier), oldest first, and
	// next, where the following page starts (the exchange's own cursor).
	// An empty page means there is no later trade. Errors as History's.
	TradesSince(ctx context.Context, sym market.Symbol, since time.Time) (trades []market.Trade, next time.Time, err error)
}

// CandleCloseRule is implemented by a Protocol whose exchange sends its
// candles without a closed flag (Kraken's ohlc): when CandlesCloseOnNext
// is true, Decode reports every candle as forming, and the collector
// closes a stream's candle when a candle of a later open time of that
// stream arrives on the same connection (a candle older than the one held
// is final already and is handed on as closed).
type CandleCloseRule interface {
	CandlesCloseOnNext() bool
}

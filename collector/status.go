package collector

import (
	"time"

	"marketetl/market"
)

// State is a collector's connection state, as reported in Status.
type State string

// The states of a collector. A collector is Connecting while it dials or
// subscribes, Connected while all its connections are up, Reconnecting while
// it waits to redial after a failure, and Stopped once Run has returned.
const (
	StateStarting     State = "starting"
	StateConnecting   State = "connecting"
	StateConnected    State = "connected"
	StateReconnecting State = "reconnecting"
	StateStopped      State = "stopped"
)

// Status is a snapshot of a collector's health and counters, safe to keep
// and read after it was taken.
type Status struct {
	Name     string
	Exchange market.Exchange
	State    State
	// Since is when State last changed.
	Since time.Time
	// ConnectedSince is when the collector last became Connected (zero when not connected).
	ConnectedSince time.Time
	// LastMessage is when any frame (data, ack, pong, heartbeat) was last
	// read: the read loop's heartbeat.
	LastMessage time.Time
	// LastData is when a market record was last accepted from any stream.
	LastData time.Time
	// Streams holds per-stream data freshness, keyed by Stream.String().
	Streams map[string]StreamStatus
	// MessagesReceived counts frames read; MessagesProcessed counts frames
	// decoded without error.
	MessagesReceived  uint64
	MessagesProcessed uint64
	// Records counts records handed to the sink; Rejects counts frames or
	// records refused by decoding.
	Records uint64
	Rejects uint64
	// Errors counts connection, protocol and decode errors.
	Errors uint64
	// Reconnects counts redials after a connection was lost or failed.
	Reconnects uint64
	// Gaps counts the gaps found in all streams (see StreamStatus.Gaps).
	Gaps uint64
	// Reconciled counts the comparisons of closed and provisional candles
	// (built from trades or received) with the exchange's REST candles, by
	// outcome: matched (a closed candle equal to the exchange's), confirmed
	// (a provisional candle equal to it, handed on again as closed),
	// corrected (replaced by the exchange's), missing (the exchange served
	// none: a closed candle is left as it is, a provisional one retried),
	// failed (the request failed; retried with backoff), abandoned (a
	// provisional candle the exchange still served none for after 30
	// attempts; it stays provisional).
	Reconciled map[string]uint64
	// ClockSkew is the estimated offset of the local clock from the
	// exchange's (received minus exchange time of recent trades, a low
	// percentile; negative when the local clock is behind), when
	// ClockSkewKnown: enough trades of the exchange were seen.
	ClockSkew      time.Duration
	ClockSkewKnown bool
	// Anomalies counts protocol anomalies by kind (AnomalyKinds): signs
	// that the exchange changed its API.
	Anomalies map[string]uint64
	// ServerClockOffset is the exchange's clock minus the host's, as last
	// measured against its server-time endpoint (private collectors, whose
	// signatures use the exchange's time; zero when not measured).
	ServerClockOffset time.Duration
	// BalanceCorrections counts the balance rows the periodic REST
	// reconciliation delivered because the stream had not (private
	// collectors). Reconciled counts the passes: balance_checked,
	// balance_failed.
	BalanceCorrections uint64
	// LastError is the latest error's text (never containing secrets) and LastErrorTime its time.
	LastError     string
	LastErrorTime time.Time
}

// StreamStatus is one stream's freshness.
type StreamStatus struct {
	Stream market.Stream
	// Subscribed is true once the exchange confirmed the subscription on
	// the stream's current connection (or data arrived for it; for a
	// connection whose URL subscribes, once it delivered a first frame).
	// It is cleared when that connection is lost, until the new
	// connection's acknowledgement. A candle stream built from trades
	// follows its trade stream.
	Subscribed bool
	// FirstSubscribed is when the exchange first confirmed the stream's
	// subscription in this run (zero until then); it is not reset by a
	// reconnect. The supervisor judges the silence of a stream without
	// data from it, not from the run's start, so that the time taken to
	// connect and subscribe is not counted as silence.
	FirstSubscribed time.Time
	// LastData is when a record of this stream last arrived (zero if never).
	LastData time.Time
	// Records counts the stream's records handed to the sink.
	Records uint64
	// LastError is the exchange's latest refusal for this stream, if any.
	LastError string
	// Gaps counts the holes found in the stream: skipped trade ids, missing
	// closed candles, and windows opened by a reconnect or a restart.
	Gaps uint64
	// OutOfOrder counts trades whose id was not above the stream's last
	// one (resent or out of order): they open no gap.
	OutOfOrder uint64
	// Refused is true when the exchange refused the stream's subscription
	// for good (an instrument it does not have), with its code and
	// message: the stream gets no data, and is not redialled for it.
	Refused        bool
	RefusedCode    string
	RefusedMessage string
	// Book is the local order book's state and counters, for an order
	// book stream that has received a book message; nil otherwise.
	Book *BookStatus
}

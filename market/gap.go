package market

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// ErrRejected is wrapped by the error a sink returns for a record that
// validation refused (and kept in rejects): the collector then records a
// GapRejected gap covering it, so that the backfill fetches it again.
var ErrRejected = errors.New("record rejected by validation")

// GapReason says why a window of a stream may be missing records.
type GapReason string

// The gap reasons. They are stored in gaps.reason and are part of the
// public interface: add, never rename.
const (
	// GapTradeIDJump: a trade arrived whose id does not follow the last
	// one of its stream.
	GapTradeIDJump GapReason = "trade_id_jump"
	// GapCandleMissing: a closed candle arrived whose open time does not
	// follow the last closed candle of its stream.
	GapCandleMissing GapReason = "candle_missing"
	// GapDisconnect: a connection carrying the stream dropped or went
	// silent; records published meanwhile may be missing.
	GapDisconnect GapReason = "disconnect"
	// GapRestart: the process (or the collector) started; records between
	// the last stored one and the first new one may be missing.
	GapRestart GapReason = "restart"
	// GapSpoolFull: the database was down and the local spool full, so
	// records were not kept.
	GapSpoolFull GapReason = "spool_full"
	// GapSpoolError: the database was down and the disk refused to spool
	// the records (a write error other than the spool's cap).
	GapSpoolError GapReason = "spool_error"
	// GapSpoolCorrupt: spooled records were damaged on disk (a frame that
	// failed its checksum or could not be decoded, a segment that could not
	// be read); the window is that of the stream's records in the damaged
	// segment, from the segment's index.
	GapSpoolCorrupt GapReason = "spool_corrupt"
	// GapRejected: validation refused a trade or a closed candle as it
	// arrived (say, an exchange time ahead of the local clock beyond the
	// allowance); the window covers that record, for the backfill to fetch
	// it again.
	GapRejected GapReason = "rejected"
	// GapManual: asked for by hand (etl backfill).
	GapManual GapReason = "manual"
	// GapBookResync: a local order book was dropped and rebuilt from a new
	// exchange snapshot (a sequence break, a checksum mismatch, an invalid
	// book, drift from the exchange's REST book, a reconnect); the window
	// runs from the last update applied to the old book to the new
	// snapshot, and what the book did in between is unknown.
	GapBookResync GapReason = "book_resync"
)

// GapReasons returns every gap reason, in the order of README's table of
// gap reasons (a test keeps the two in step).
func GapReasons() []GapReason {
	return []GapReason{GapTradeIDJump, GapCandleMissing, GapDisconnect, GapRestart,
		GapSpoolFull, GapSpoolError, GapSpoolCorrupt, GapRejected, GapManual, GapBookResync}
}

// Gap is a window of one stream in which records may be missing. The
// window is given in exchange time and, for streams whose exchange numbers
// trades one by one, also by trade id; the id bounds are exact and are
// preferred when both are known.
type Gap struct {
	Stream Stream
	// From and To bound the window: records with From < time < To may be
	// missing (From is the time of the last record known to be held, To
	// that of the first record received after the hole). To >= From.
	From, To time.Time
	// AfterID and BeforeID, when both are > 0, bound the missing trades by
	// id: trades with AfterID < id < BeforeID are missing.
	AfterID, BeforeID int64
	Reason            GapReason
	// Detected is when the gap was noticed (local clock).
	Detected time.Time
}

// HasIDs reports whether the gap is bounded by trade ids.
func (g Gap) HasIDs() bool { return g.AfterID > 0 && g.BeforeID > 0 }

// Alone reports whether the gap is a record of its own that is never
// merged with another gap of its stream: a book_resync gap records one
// resync and is never filled (no exchange serves a book's history), so
// merging would only lose the count. Two resyncs of one book often
// overlap in time: a Binance or Coinbase snapshot carries no exchange
// time, so its gap ends at the host time it was received, which can be
// after the exchange time of the next update applied.
func (g Gap) Alone() bool { return g.Reason == GapBookResync }

// String describes the gap for logs and errors.
func (g Gap) String() string {
	s := fmt.Sprintf("%s %s..%s (%s)", g.Stream, g.From.UTC().Format(time.RFC3339Nano), g.To.UTC().Format(time.RFC3339Nano), g.Reason)
	if g.HasIDs() {
		s += fmt.Sprintf(" trade ids %d..%d", g.AfterID, g.BeforeID)
	}
	return s
}

// Union returns the smallest gap covering g and o (of one stream), with g's
// reason and the earlier detection time. The trade id bounds are kept only
// when both gaps have them: a window bounded by time alone cannot be
// bounded by ids.
func (g Gap) Union(o Gap) Gap {
	out := g
	if o.From.Before(out.From) {
		out.From = o.From
	}
	if o.To.After(out.To) {
		out.To = o.To
	}
	if g.HasIDs() && o.HasIDs() {
		out.AfterID, out.BeforeID = min(g.AfterID, o.AfterID), max(g.BeforeID, o.BeforeID)
	} else {
		out.AfterID, out.BeforeID = 0, 0
	}
	if out.Detected.IsZero() || (!o.Detected.IsZero() && o.Detected.Before(out.Detected)) {
		out.Detected = o.Detected
	}
	return out
}

// CheckReason says why a candle is to be compared with the exchange's own.
type CheckReason string

// The check reasons, stored in candle_checks.reason; part of the public
// interface: add, never rename.
const (
	// CheckProvisional: the candle was built from part of its interval's
	// trades and is stored as provisional until the exchange's candle
	// replaces it.
	CheckProvisional CheckReason = "provisional"
	// CheckClosed: a closed candle (built from every trade seen, or
	// received) is compared once with the exchange's REST candle.
	CheckClosed CheckReason = "closed"
)

// CandleCheck is a candle waiting to be compared with the exchange's own
// (REST) candle: a row of candle_checks.
type CandleCheck struct {
	// Stream is the candle's stream and Time its open time.
	Stream Stream
	Time   time.Time
	Reason CheckReason
	// Due is when the next comparison may run.
	Due time.Time
	// Open, High, Low, Close and Volume are our candle's values when the
	// check was recorded (zero when unknown): a closed candle equal to the
	// exchange's is left alone.
	Open, High, Low, Close, Volume decimal.Decimal
	// Attempts counts the comparisons that failed or found no exchange
	// candle; LastError says why the last one did.
	Attempts  int
	LastError string
}

// String describes the check for logs and errors.
func (c CandleCheck) String() string {
	return fmt.Sprintf("%s %s (%s)", c.Stream, c.Time.UTC().Format(time.RFC3339), c.Reason)
}

package validate

import (
	"fmt"
	"slices"
	"time"

	"marketetl/market"
)

// DefaultClockSkew is the clock-skew allowance used when Config.ClockSkew is 0.
const DefaultClockSkew = 5 * time.Second

// earliest is the earliest exchange time accepted: no crypto asset traded
// before 2009.
var earliest = time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC)

// Config tunes a Validator. The zero value is ready to use.
type Config struct {
	// ClockSkew is how far ahead of the local clock an exchange time may
	// be (the exchange's clock and ours disagree a little). Zero means
	// DefaultClockSkew (5s); negative is an error.
	ClockSkew time.Duration
	// Exchanges are the exchanges whose records are accepted. Empty means
	// every exchange of market.Exchanges.
	Exchanges []market.Exchange
	// ClockOffset, when set, returns the measured offset of the local
	// clock from an exchange's (negative when the local clock is behind)
	// and whether it is known (collector.ClockSkew.Offset). When the local
	// clock is behind, the future checks allow that much more, up to
	// MaxClockCorrection, so that a host clock running late does not
	// refuse good records; while it is not known yet, they allow
	// MaxClockCorrection more. Nil: no correction.
	ClockOffset func(market.Exchange) (time.Duration, bool)
}

// MaxClockCorrection caps the correction a measured clock offset adds to
// the clock-skew allowance: a host clock further behind than that is
// broken, and its records are refused (each refusal is recorded as a gap).
const MaxClockCorrection = 5 * time.Minute

// Validator checks records. It is safe for concurrent use: it holds only
// configuration, set once by New.
type Validator struct {
	skew      time.Duration
	offset    func(market.Exchange) (time.Duration, bool)
	exchanges []market.Exchange
	now       func() time.Time
	// wall is set when now is the wall clock (time.Now): CheckAfter
	// then trusts its caller's earlier reading.
	wall bool
}

// New checks cfg, applies its defaults and returns a Validator that reads
// the local clock with now (nil means time.Now).
func New(cfg Config, now func() time.Time) (*Validator, error) {
	if cfg.ClockSkew < 0 {
		return nil, fmt.Errorf("validate config: ClockSkew %s is negative: use 0 for the default (%s) or a positive allowance", cfg.ClockSkew, DefaultClockSkew)
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if len(cfg.Exchanges) == 0 {
		cfg.Exchanges = market.Exchanges()
	}
	for _, e := range cfg.Exchanges {
		if !e.Known() {
			return nil, fmt.Errorf("validate config: exchange %q is unknown: use one of %v", string(e), market.Exchanges())
		}
	}
	wall := now == nil
	if wall {
		now = time.Now
	}
	return &Validator{skew: cfg.ClockSkew, offset: cfg.ClockOffset, exchanges: slices.Clone(cfg.Exchanges), now: now, wall: wall}, nil
}

// Rejection says why a record was refused.
type Rejection struct {
	// Reason is the stable code.
	Reason Reason
	// Field is the record field at fault in snake_case ("price", "ts",
	// "bids.size"), or empty when the record as a whole is at fault.
	Field string
	// Detail explains the fault with the offending values, for people.
	Detail string
}

// String returns "reason (field): detail". Rejection deliberately does
// not implement error: Check returns a *Rejection, and a nil one stored in
// an error variable would not compare equal to nil.
func (r *Rejection) String() string {
	return fmt.Sprintf("%s (%s): %s", r.Reason, r.Field, r.Detail)
}

// Reject returns the market.Reject that keeps rec with this rejection,
// carrying raw (the offending payload, may be nil). The receipt time,
// exchange, symbol and data type are taken from rec when it is a known,
// non-nil record.
func (r *Rejection) Reject(rec market.Record, raw []byte) market.Reject {
	out := market.Reject{Reason: string(r.Reason), Field: r.Field, Detail: r.Detail, Raw: raw}
	if h := header(rec); h != nil {
		out.Received, out.Exchange, out.Symbol, out.Type = h.Received, h.Exchange, h.Symbol, rec.DataType()
	}
	return out
}

// header returns rec's Meta, or nil when rec is nil, a nil pointer or of a
// type this package does not know.
func header(rec market.Record) *market.Meta {
	switch r := rec.(type) {
	case *market.Trade:
		if r != nil {
			return &r.Meta
		}
	case *market.Candle:
		if r != nil {
			return &r.Meta
		}
	case *market.Ticker:
		if r != nil {
			return &r.Meta
		}
	case *market.BookSnapshot:
		if r != nil {
			return &r.Meta
		}
	case *market.BookUpdate:
		if r != nil {
			return &r.Meta
		}
	case *market.Balance:
		if r != nil {
			return &r.Meta
		}
	}
	return nil
}

// reject builds a Rejection; it is only reached on the rejection path, so
// its formatting costs nothing for accepted records.
func reject(reason Reason, field, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Check validates rec and returns nil when it is accepted, or why it is
// refused. It reads the local clock once per call.
func (v *Validator) Check(rec market.Record) *Rejection {
	return v.checkAt(rec, v.now())
}

// CheckAfter is Check for a caller that read the wall clock (time.Now) at
// earlier, before the call (a collector stamping the frame rec came in):
// rec is checked as at earlier, and the clock is read only when rec is
// refused as ahead of it (TimestampInFuture, ClosedBeforeEnd), to check
// rec again as Check does. The answer is Check's: a record accepted as at
// an earlier reading is accepted at any later one; only a wall clock set
// back between earlier and the call would make a difference. A Validator
// that reads another clock (New's now set) ignores earlier and checks as
// Check does.
func (v *Validator) CheckAfter(rec market.Record, earlier time.Time) *Rejection {
	if !v.wall {
		return v.Check(rec)
	}
	r := v.checkAt(rec, earlier)
	if r != nil && (r.Reason == TimestampInFuture || r.Reason == ClosedBeforeEnd) {
		return v.Check(rec)
	}
	return r
}

// checkAt is Check with the local clock read at now.
func (v *Validator) checkAt(rec market.Record, now time.Time) *Rejection {
	h := header(rec)
	if h == nil {
		return reject(UnknownType, "", "record %T is nil or of an unknown type", rec)
	}
	allow := v.allowance(h.Exchange)
	if r := v.checkMeta(h, rec.DataType() == market.TypeBalance, now, allow); r != nil {
		return r
	}
	switch r := rec.(type) {
	case *market.Trade:
		return checkTrade(r)
	case *market.Candle:
		return checkCandle(r, now.Add(allow))
	case *market.Ticker:
		return checkTicker(r)
	case *market.BookSnapshot:
		return checkBook(r)
	case *market.BookUpdate:
		return checkBookUpdate(r)
	case *market.Balance:
		return checkBalance(r)
	}
	return reject(UnknownType, "", "record type %T", rec) // unreachable: header knows the same types
}

// checkMeta applies the rules common to every record. For a balance the
// symbol is an asset code.
func (v *Validator) checkMeta(h *market.Meta, balance bool, now time.Time, allow time.Duration) *Rejection {
	if !slices.Contains(v.exchanges, h.Exchange) {
		return reject(UnknownExchange, "exchange", "exchange %q is not one of %v", string(h.Exchange), v.exchanges)
	}
	if balance {
		if err := market.CheckAsset(string(h.Symbol)); err != nil {
			return reject(BadSymbol, "symbol", "asset code %q: %v", string(h.Symbol), err)
		}
	} else if err := h.Symbol.Check(); err != nil {
		return reject(BadSymbol, "symbol", "%v", err)
	}
	if h.Time.IsZero() {
		return reject(MissingTimestamp, "ts", "no exchange time")
	}
	if h.Received.IsZero() {
		return reject(MissingTimestamp, "received_at", "no receipt time")
	}
	if h.Time.Before(earliest) {
		return reject(TimestampTooOld, "ts", "%s is before %s", stamp(h.Time), stamp(earliest))
	}
	if limit := now.Add(allow); h.Time.After(limit) {
		return reject(TimestampInFuture, "ts", "%s is more than %s after the local clock %s", stamp(h.Time), allow, stamp(now))
	}
	return nil
}

// allowance is how far ahead of the local clock an exchange time of ex
// may be: the configured skew, plus how far the local clock was measured
// to run behind ex's (capped at MaxClockCorrection), or plus
// MaxClockCorrection while that is not measured yet.
func (v *Validator) allowance(ex market.Exchange) time.Duration {
	if v.offset == nil {
		return v.skew
	}
	off, ok := v.offset(ex)
	if !ok {
		// Not measured yet (the first trades after a start, before the
		// exchange's server time or enough trades were read): a host
		// clock behind the exchange's must not refuse them, so allow as
		// much as a measurement could.
		return v.skew + MaxClockCorrection
	}
	if off >= 0 {
		return v.skew
	}
	return v.skew + min(-off, MaxClockCorrection)
}

// stamp formats t for a detail message.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

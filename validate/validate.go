// Package validate checks market records before they are stored or
// published. It is pure: no I/O, no shared mutable state. A check returns
// nil (accepted) or a *Rejection with a stable Reason and the field at fault.
package validate

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// Earliest is the earliest exchange time accepted: no crypto market traded before 2009.
var earliest = time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC)

// Config tunes a Validator.
type Config struct {
	// ClockSkew is how far in the future an exchange timestamp may be.
	// Default 5s.
	ClockSkew time.Duration
	// Exchanges are the accepted exchanges; default market.Exchanges().
	Exchanges []market.Exchange
}

// Validator checks records. It is safe for concurrent use.
type Validator struct {
	skew      time.Duration
	exchanges map[market.Exchange]bool
	now       func() time.Time
}

// Rejection says why a record was refused.
type Rejection struct {
	Reason Reason
	// Field is the record field at fault ("price", "high", "ts").
	Field string
	// Detail is a human-readable explanation with the offending values.
	Detail string
}

// Error implements error.
func (r *Rejection) Error() string {
	return fmt.Sprintf("%s (%s): %s", r.Reason, r.Field, r.Detail)
}

// New returns a Validator; now defaults to time.Now.
func New(cfg Config, now func() time.Time) (*Validator, error) {
	if cfg.ClockSkew < 0 {
		return nil, fmt.Errorf("new validator: negative clock skew %s", cfg.ClockSkew)
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 5 * time.Second
	}
	if len(cfg.Exchanges) == 0 {
		cfg.Exchanges = market.Exchanges()
	}
	if now == nil {
		now = time.Now
	}
	v := &Validator{skew: cfg.ClockSkew, exchanges: map[market.Exchange]bool{}, now: now}
	for _, e := range cfg.Exchanges {
		v.exchanges[e] = true
	}
	return v, nil
}

func reject(reason Reason, field, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Check validates rec: nil means accepted.
func (v *Validator) Check(rec market.Record) *Rejection {
	h := rec.Header()
	if r := v.checkMeta(rec, h); r != nil {
		return r
	}
	switch r := rec.(type) {
	case *market.Trade:
		return checkTrade(r)
	case *market.Candle:
		return checkCandle(r)
	case *market.Ticker:
		return checkTicker(r)
	case *market.BookSnapshot:
		return checkBook(r)
	case *market.Balance:
		return checkBalance(r)
	}
	return reject(UnknownType, "", "record type %T", rec)
}

func (v *Validator) checkMeta(rec market.Record, h *market.Meta) *Rejection {
	if !v.exchanges[h.Exchange] {
		return reject(UnknownExchange, "exchange", "exchange %q", string(h.Exchange))
	}
	if rec.DataType() == market.TypeBalance {
		if err := market.CheckAsset(string(h.Symbol)); err != nil {
			return reject(BadSymbol, "symbol", "asset %q: %v", string(h.Symbol), err)
		}
	} else if err := h.Symbol.Check(); err != nil {
		return reject(BadSymbol, "symbol", "%v", err)
	}
	if h.Time.IsZero() {
		return reject(MissingTime, "ts", "no exchange timestamp")
	}
	if h.Received.IsZero() {
		return reject(MissingTime, "received_at", "no receipt time")
	}
	if h.Time.Before(earliest) {
		return reject(TimestampTooOld, "ts", "%s is before 2009", h.Time.UTC().Format(time.RFC3339Nano))
	}
	if limit := v.now().Add(v.skew); h.Time.After(limit) {
		return reject(TimestampInFuture, "ts", "%s is more than %s ahead of the local clock", h.Time.UTC().Format(time.RFC3339Nano), v.skew)
	}
	return nil
}

func positive(d decimal.Decimal, reason Reason, field string) *Rejection {
	if d.Sign() <= 0 {
		return reject(reason, field, "%s %s is not > 0", field, d.String())
	}
	return nil
}

func checkTrade(t *market.Trade) *Rejection {
	if t.TradeID == "" {
		return reject(EmptyTradeID, "trade_id", "empty trade id")
	}
	if r := positive(t.Price, NonPositivePrice, "price"); r != nil {
		return r
	}
	if r := positive(t.Size, NonPositiveSize, "size"); r != nil {
		return r
	}
	if t.Side != market.Buy && t.Side != market.Sell {
		return reject(BadSide, "side", "side %q: want buy or sell", string(t.Side))
	}
	return nil
}

func checkCandle(c *market.Candle) *Rejection {
	if !c.Timeframe.Known() {
		return reject(UnknownTimeframe, "timeframe", "timeframe %q", string(c.Timeframe))
	}
	if !c.Timeframe.Aligned(c.Time) {
		return reject(MisalignedTimestamp, "ts", "%s is not a %s boundary", c.Time.UTC().Format(time.RFC3339Nano), c.Timeframe)
	}
	for _, f := range []struct {
		name string
		v    decimal.Decimal
	}{{"open", c.Open}, {"high", c.High}, {"low", c.Low}, {"close", c.Close}} {
		if r := positive(f.v, NonPositivePrice, f.name); r != nil {
			return r
		}
	}
	if c.Volume.Sign() < 0 {
		return reject(NegativeVolume, "volume", "volume %s < 0", c.Volume)
	}
	if c.QuoteVolume.Valid && c.QuoteVolume.Decimal.Sign() < 0 {
		return reject(NegativeVolume, "quote_volume", "quote volume %s < 0", c.QuoteVolume.Decimal)
	}
	if c.High.LessThan(c.Low) {
		return reject(HighBelowLow, "high", "high %s < low %s", c.High, c.Low)
	}
	if c.High.LessThan(c.Open) || c.High.LessThan(c.Close) {
		return reject(HighBelowOpenClose, "high", "high %s < max(open %s, close %s)", c.High, c.Open, c.Close)
	}
	if c.Low.GreaterThan(c.Open) || c.Low.GreaterThan(c.Close) {
		return reject(LowAboveOpenClose, "low", "low %s > min(open %s, close %s)", c.Low, c.Open, c.Close)
	}
	return nil
}

func checkTicker(t *market.Ticker) *Rejection {
	for _, f := range []struct {
		name string
		v    decimal.NullDecimal
	}{{"last", t.Last}, {"bid", t.Bid}, {"ask", t.Ask}, {"open_24h", t.Open24h}, {"high_24h", t.High24h}, {"low_24h", t.Low24h}} {
		if f.v.Valid {
			if r := positive(f.v.Decimal, NonPositivePrice, f.name); r != nil {
				return r
			}
		}
	}
	for _, f := range []struct {
		name string
		v    decimal.NullDecimal
	}{{"bid_size", t.BidSize}, {"ask_size", t.AskSize}} {
		if f.v.Valid && f.v.Decimal.Sign() < 0 {
			return reject(NegativeSize, f.name, "%s %s < 0", f.name, f.v.Decimal)
		}
	}
	for _, f := range []struct {
		name string
		v    decimal.NullDecimal
	}{{"volume_24h", t.Volume24h}, {"quote_volume_24h", t.QuoteVolume24h}} {
		if f.v.Valid && f.v.Decimal.Sign() < 0 {
			return reject(NegativeVolume, f.name, "%s %s < 0", f.name, f.v.Decimal)
		}
	}
	if t.Bid.Valid && t.Ask.Valid && t.Bid.Decimal.GreaterThan(t.Ask.Decimal) {
		return reject(CrossedBook, "bid", "bid %s > ask %s", t.Bid.Decimal, t.Ask.Decimal)
	}
	return nil
}

func checkBook(b *market.BookSnapshot) *Rejection {
	for i, l := range b.Bids {
		if r := checkLevel(l, "bids", i); r != nil {
			return r
		}
		if i > 0 && !l.Price.LessThan(b.Bids[i-1].Price) {
			return reject(UnsortedBook, "bids", "bid %d price %s not below %s", i, l.Price, b.Bids[i-1].Price)
		}
	}
	for i, l := range b.Asks {
		if r := checkLevel(l, "asks", i); r != nil {
			return r
		}
		if i > 0 && !l.Price.GreaterThan(b.Asks[i-1].Price) {
			return reject(UnsortedBook, "asks", "ask %d price %s not above %s", i, l.Price, b.Asks[i-1].Price)
		}
	}
	if len(b.Bids) > 0 && len(b.Asks) > 0 && !b.Bids[0].Price.LessThan(b.Asks[0].Price) {
		return reject(CrossedBook, "bids", "best bid %s ≥ best ask %s", b.Bids[0].Price, b.Asks[0].Price)
	}
	return nil
}

func checkLevel(l market.Level, side string, i int) *Rejection {
	if l.Price.Sign() <= 0 {
		return reject(NonPositivePrice, side, "%s level %d price %s is not > 0", side, i, l.Price)
	}
	if l.Size.Sign() <= 0 {
		return reject(NonPositiveSize, side, "%s level %d size %s is not > 0", side, i, l.Size)
	}
	return nil
}

func checkBalance(b *market.Balance) *Rejection {
	if b.Account == "" {
		return reject(EmptyAccount, "account", "empty account")
	}
	if b.Free.Sign() < 0 {
		return reject(NegativeSize, "free", "free %s < 0", b.Free)
	}
	if b.Locked.Sign() < 0 {
		return reject(NegativeSize, "locked", "locked %s < 0", b.Locked)
	}
	return nil
}

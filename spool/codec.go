package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// codecVersion is the first byte of every payload. A payload of another
// version is refused (and counted as corrupt), never guessed at.
const codecVersion = 1

// The record kinds, the second byte of a payload.
const (
	kindTrade   = 1
	kindTicker  = 2
	kindCandle  = 3
	kindBook    = 4
	kindBalance = 5
	// The kinds below follow the others: a payload's kind never changes.
	kindBookUpdate = 6
	kindReject     = 7 // a reject spilled by the store writer at shutdown
)

// ErrUnsupported is returned (wrapped) by encode for a record type the
// spool cannot hold.
var ErrUnsupported = errors.New("record type not supported by the spool")

// A candle's state byte: 0 and 1 are the boolean Closed of the first
// payloads, so that spool files written before provisional candles existed
// still read back.
const (
	stateForming     = 0
	stateClosed      = 1
	stateProvisional = 2
)

func candleState(c *market.Candle) byte {
	switch {
	case c.Closed:
		return stateClosed
	case c.Provisional:
		return stateProvisional
	}
	return stateForming
}

// errShort is returned when a payload ends before a value it announces.
var errShort = errors.New("payload too short")

// encode appends the binary encoding of rec to dst.
func encode(dst []byte, rec market.Record) ([]byte, error) {
	dst = append(dst, codecVersion)
	switch r := rec.(type) {
	case *market.Trade:
		dst = append(dst, kindTrade)
		dst = appendMeta(dst, &r.Meta)
		dst = appendString(dst, r.TradeID)
		dst = appendDecimal(dst, r.Price)
		dst = appendDecimal(dst, r.Size)
		dst = appendString(dst, string(r.Side))
	case *market.Ticker:
		dst = append(dst, kindTicker)
		dst = appendMeta(dst, &r.Meta)
		for _, d := range []decimal.NullDecimal{r.Last, r.Bid, r.Ask, r.BidSize, r.AskSize,
			r.Open24h, r.High24h, r.Low24h, r.Volume24h, r.QuoteVolume24h} {
			dst = appendNullDecimal(dst, d)
		}
	case *market.Candle:
		dst = append(dst, kindCandle)
		dst = appendMeta(dst, &r.Meta)
		dst = appendString(dst, string(r.Timeframe))
		for _, d := range []decimal.Decimal{r.Open, r.High, r.Low, r.Close, r.Volume} {
			dst = appendDecimal(dst, d)
		}
		dst = appendNullDecimal(dst, r.QuoteVolume)
		dst = binary.AppendVarint(dst, r.Trades)
		dst = append(dst, candleState(r))
	case *market.BookSnapshot:
		dst = append(dst, kindBook)
		dst = appendMeta(dst, &r.Meta)
		dst = appendLevels(dst, r.Bids)
		dst = appendLevels(dst, r.Asks)
		dst = binary.AppendVarint(dst, r.Sequence)
		dst = binary.AppendVarint(dst, r.Checksum)
	case *market.BookUpdate:
		dst = append(dst, kindBookUpdate)
		dst = appendMeta(dst, &r.Meta)
		dst = appendString(dst, string(r.Side))
		dst = appendDecimal(dst, r.Price)
		dst = appendDecimal(dst, r.Size)
		dst = binary.AppendVarint(dst, r.Sequence)
	case *market.Balance:
		dst = append(dst, kindBalance)
		dst = appendMeta(dst, &r.Meta)
		dst = appendString(dst, r.Account)
		dst = appendDecimal(dst, r.Free)
		dst = appendDecimal(dst, r.Locked)
	case *spilledReject:
		dst = append(dst, kindReject)
		dst = appendReject(dst, r)
	default:
		return dst, fmt.Errorf("encode %T: %w", rec, ErrUnsupported)
	}
	return dst, nil
}

func appendMeta(dst []byte, m *market.Meta) []byte {
	dst = appendString(dst, string(m.Exchange))
	dst = appendString(dst, string(m.Symbol))
	dst = appendTime(dst, m.Time)
	return appendTime(dst, m.Received)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// appendTime writes the instant (seconds since the Unix epoch and
// nanoseconds); it is read back in UTC, the zone of every record time.
func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

// The forms of a decimal's coefficient.
const (
	coefSmall = 0 // a varint
	coefBig   = 1 // sign byte, length, big-endian magnitude
)

// appendDecimal writes d's exponent and coefficient, so that its scale
// ("2250.10" against "2250.1") survives.
func appendDecimal(dst []byte, d decimal.Decimal) []byte {
	dst = binary.AppendVarint(dst, int64(d.Exponent()))
	if d.NumDigits() <= 18 {
		dst = append(dst, coefSmall)
		return binary.AppendVarint(dst, d.CoefficientInt64())
	}
	c := d.Coefficient()
	dst = append(dst, coefBig)
	dst = appendBool(dst, c.Sign() < 0)
	mag := c.Abs(c).Bytes()
	dst = binary.AppendUvarint(dst, uint64(len(mag)))
	return append(dst, mag...)
}

func appendNullDecimal(dst []byte, d decimal.NullDecimal) []byte {
	if !d.Valid {
		return append(dst, 0)
	}
	return appendDecimal(append(dst, 1), d.Decimal)
}

// appendLevels writes the number of levels plus one (0 for a nil slice,
// so that nil and empty stay apart), then the levels.
func appendLevels(dst []byte, levels []market.Level) []byte {
	if levels == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(levels))+1)
	for _, l := range levels {
		dst = appendDecimal(dst, l.Price)
		dst = appendDecimal(dst, l.Size)
	}
	return dst
}

// decode parses a payload written by encode. It never panics: a payload
// that is short, too long, of another version or otherwise malformed is an
// error.
func decode(p []byte) (market.Record, error) {
	r := reader{b: p}
	if v := r.byte(); v != codecVersion {
		if r.err != nil {
			return nil, fmt.Errorf("decode spooled record: %w", r.err)
		}
		return nil, fmt.Errorf("decode spooled record: codec version %d, want %d", v, codecVersion)
	}
	var rec market.Record
	switch kind := r.byte(); kind {
	case kindTrade:
		t := &market.Trade{}
		r.meta(&t.Meta)
		t.TradeID = r.string()
		t.Price = r.decimal()
		t.Size = r.decimal()
		t.Side = market.Side(r.string())
		rec = t
	case kindTicker:
		t := &market.Ticker{}
		r.meta(&t.Meta)
		for _, d := range []*decimal.NullDecimal{&t.Last, &t.Bid, &t.Ask, &t.BidSize, &t.AskSize,
			&t.Open24h, &t.High24h, &t.Low24h, &t.Volume24h, &t.QuoteVolume24h} {
			*d = r.nullDecimal()
		}
		rec = t
	case kindCandle:
		c := &market.Candle{}
		r.meta(&c.Meta)
		c.Timeframe = market.Timeframe(r.string())
		for _, d := range []*decimal.Decimal{&c.Open, &c.High, &c.Low, &c.Close, &c.Volume} {
			*d = r.decimal()
		}
		c.QuoteVolume = r.nullDecimal()
		c.Trades = r.varint()
		switch r.byte() {
		case stateForming:
		case stateClosed:
			c.Closed = true
		case stateProvisional:
			c.Provisional = true
		default:
			r.fail(errors.New("bad candle state"))
		}
		rec = c
	case kindBook:
		b := &market.BookSnapshot{}
		r.meta(&b.Meta)
		b.Bids = r.levels()
		b.Asks = r.levels()
		b.Sequence = r.varint()
		b.Checksum = r.varint()
		rec = b
	case kindBookUpdate:
		u := &market.BookUpdate{}
		r.meta(&u.Meta)
		u.Side = market.BookSide(r.string())
		u.Price = r.decimal()
		u.Size = r.decimal()
		u.Sequence = r.varint()
		rec = u
	case kindBalance:
		b := &market.Balance{}
		r.meta(&b.Meta)
		b.Account = r.string()
		b.Free = r.decimal()
		b.Locked = r.decimal()
		rec = b
	case kindReject:
		rec = r.reject()
	default:
		if r.err == nil {
			r.err = fmt.Errorf("unknown record kind %d", kind)
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the record", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode spooled record: %w", r.err)
	}
	return rec, nil
}

// reader consumes a payload; after the first error every read returns a
// zero value and err keeps that first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail(errShort)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("bad boolean"))
	return false
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errors.New("bad varint"))
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errors.New("bad uvarint"))
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns the next length-prefixed bytes, aliasing the payload.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errShort)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

func (r *reader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.fail(fmt.Errorf("bad nanoseconds %d", nsec))
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (r *reader) meta(m *market.Meta) {
	m.Exchange = market.Exchange(r.string())
	m.Symbol = market.Symbol(r.string())
	m.Time = r.time()
	m.Received = r.time()
}

func (r *reader) decimal() decimal.Decimal {
	exp := r.varint()
	if exp < math.MinInt32 || exp > math.MaxInt32 {
		r.fail(fmt.Errorf("decimal exponent %d out of range", exp))
		return decimal.Decimal{}
	}
	switch r.byte() {
	case coefSmall:
		return decimal.New(r.varint(), int32(exp))
	case coefBig:
		neg := r.bool()
		c := new(big.Int).SetBytes(r.bytes())
		if neg {
			c.Neg(c)
		}
		return decimal.NewFromBigInt(c, int32(exp))
	}
	r.fail(errors.New("bad decimal form"))
	return decimal.Decimal{}
}

func (r *reader) nullDecimal() decimal.NullDecimal {
	if !r.bool() {
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: r.decimal(), Valid: true}
}

func (r *reader) levels() []market.Level {
	n := r.uvarint()
	if n == 0 {
		return nil
	}
	n--
	// A level takes at least 6 bytes: never allocate more than the payload
	// can hold.
	if n > uint64(len(r.b))/6 {
		r.fail(errShort)
		return nil
	}
	out := make([]market.Level, n)
	for i := range out {
		out[i].Price = r.decimal()
		out[i].Size = r.decimal()
	}
	return out
}

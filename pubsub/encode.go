package pubsub

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// SchemaVersion is the payload schema version, the "v" field of every
// payload. It changes only when a change would break a consumer; fields may
// be added within a version, so consumers ignore fields they do not know.
const SchemaVersion = 1

// The payload's "type" values. A candle's timeframe is in its own field.
const (
	typeTicker  = "ticker"
	typeTrade   = "trade"
	typeCandle  = "candle"
	typeBook    = "book"
	typeBalance = "balance"
)

// timeLayout is RFC 3339 in UTC with nine fractional digits: fixed width,
// so that payload times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Encode appends the JSON payload of rec (schema version 1, see README.md)
// to dst and returns the extended buffer. It uses no reflection and
// allocates nothing beyond growing dst (decimals whose coefficient exceeds
// 18 digits excepted), so a caller that reuses dst encodes without garbage.
// Prices and sizes are JSON strings equal to decimal.Decimal.String();
// absent optional values are omitted. For a Record type it does not know,
// Encode writes only the common fields.
func Encode(dst []byte, rec market.Record) []byte {
	h := rec.Header()
	switch r := rec.(type) {
	case *market.Trade:
		dst = appendCommon(dst, head+`"`+typeTrade+`"`, h)
		dst = appendStringField(dst, `,"trade_id":`, r.TradeID)
		dst = appendDecimalField(dst, `,"price":"`, r.Price)
		dst = appendDecimalField(dst, `,"size":"`, r.Size)
		dst = appendStringField(dst, `,"side":`, string(r.Side))
	case *market.Ticker:
		dst = appendCommon(dst, head+`"`+typeTicker+`"`, h)
		dst = appendNullDecimalField(dst, `,"last":"`, r.Last)
		dst = appendNullDecimalField(dst, `,"bid":"`, r.Bid)
		dst = appendNullDecimalField(dst, `,"bid_size":"`, r.BidSize)
		dst = appendNullDecimalField(dst, `,"ask":"`, r.Ask)
		dst = appendNullDecimalField(dst, `,"ask_size":"`, r.AskSize)
		dst = appendNullDecimalField(dst, `,"open_24h":"`, r.Open24h)
		dst = appendNullDecimalField(dst, `,"high_24h":"`, r.High24h)
		dst = appendNullDecimalField(dst, `,"low_24h":"`, r.Low24h)
		dst = appendNullDecimalField(dst, `,"volume_24h":"`, r.Volume24h)
		dst = appendNullDecimalField(dst, `,"quote_volume_24h":"`, r.QuoteVolume24h)
	case *market.Candle:
		dst = append(dst, head+`"`+typeCandle+`"`...)
		dst = appendIdentity(dst, h)
		dst = appendStringField(dst, `,"timeframe":`, string(r.Timeframe))
		dst = appendTimes(dst, h)
		dst = appendDecimalField(dst, `,"open":"`, r.Open)
		dst = appendDecimalField(dst, `,"high":"`, r.High)
		dst = appendDecimalField(dst, `,"low":"`, r.Low)
		dst = appendDecimalField(dst, `,"close":"`, r.Close)
		dst = appendDecimalField(dst, `,"volume":"`, r.Volume)
		dst = appendNullDecimalField(dst, `,"quote_volume":"`, r.QuoteVolume)
		if r.Trades >= 0 {
			dst = append(dst, `,"trades":`...)
			dst = strconv.AppendInt(dst, r.Trades, 10)
		}
		dst = append(dst, `,"closed":`...)
		dst = strconv.AppendBool(dst, r.Closed)
		if r.Provisional && !r.Closed {
			dst = append(dst, `,"provisional":true`...)
		}
	case *market.BookSnapshot:
		dst = appendCommon(dst, head+`"`+typeBook+`"`, h)
		dst = appendLevels(dst, `,"bids":[`, r.Bids)
		dst = appendLevels(dst, `,"asks":[`, r.Asks)
		if r.Sequence != 0 {
			dst = append(dst, `,"sequence":`...)
			dst = strconv.AppendInt(dst, r.Sequence, 10)
		}
		if r.Checksum != 0 {
			dst = append(dst, `,"checksum":`...)
			dst = strconv.AppendInt(dst, r.Checksum, 10)
		}
	case *market.Balance:
		dst = appendCommon(dst, head+`"`+typeBalance+`"`, h)
		dst = appendStringField(dst, `,"account":`, r.Account)
		dst = appendDecimalField(dst, `,"free":"`, r.Free)
		dst = appendDecimalField(dst, `,"locked":"`, r.Locked)
	default:
		dst = append(dst, head...)
		dst = appendString(dst, rec.Stream().Kind())
		dst = appendIdentity(dst, h)
		dst = appendTimes(dst, h)
	}
	return append(dst, '}')
}

// head starts every payload, up to its type value.
const head = `{"v":1,"type":`

// appendCommon appends start, the payload's beginning up to its type
// value included (a constant: the type needs no escaping), and the fields
// every payload has.
func appendCommon(dst []byte, start string, h *market.Meta) []byte {
	dst = append(dst, start...)
	dst = appendIdentity(dst, h)
	return appendTimes(dst, h)
}

func appendIdentity(dst []byte, h *market.Meta) []byte {
	dst = appendStringField(dst, `,"exchange":`, string(h.Exchange))
	return appendStringField(dst, `,"symbol":`, string(h.Symbol))
}

func appendTimes(dst []byte, h *market.Meta) []byte {
	dst = append(dst, `,"ts":"`...)
	ts := len(dst)
	dst = appendTime(dst, h.Time)
	dst = append(dst, `","received_at":"`...)
	if fastYear(h.Time) && unixDay(h.Time) == unixDay(h.Received) {
		// The same day: its date, "2006-01-02T", is already written.
		dst = append(dst, dst[ts:ts+11]...)
		dst = appendClock(dst, h.Received)
	} else {
		dst = appendTime(dst, h.Received)
	}
	return append(dst, '"')
}

// The first and last second of the years 0 to 9999, which appendTime
// writes itself, in seconds since the Unix epoch.
const (
	firstFastSecond = -62167219200 // 0000-01-01T00:00:00Z
	lastFastSecond  = 253402300799 // 9999-12-31T23:59:59Z
)

// fastYear reports whether t's UTC year is within 0–9999.
func fastYear(t time.Time) bool {
	s := t.Unix()
	return s >= firstFastSecond && s <= lastFastSecond
}

// unixDay is the number of t's UTC day since 1970-01-01.
func unixDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// appendTime appends t in UTC as RFC 3339 with nine fractional digits, the
// same as t.UTC().AppendFormat(dst, timeLayout), which it uses for years
// outside 0–9999 and which takes several times longer. The digits are
// written two at a time into a fixed-width buffer (the time was a third of
// the payload's encoding when written one digit at a time).
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, timeLayout)
	}
	var b [11]byte // 2006-01-02T
	put2(b[0:], year/100)
	put2(b[2:], year%100)
	b[4] = '-'
	put2(b[5:], int(month))
	b[7] = '-'
	put2(b[8:], day)
	b[10] = 'T'
	dst = append(dst, b[:]...)
	return appendClock(dst, t)
}

// appendClock appends the time of day of t in UTC, 15:04:05.000000000Z.
func appendClock(dst []byte, t time.Time) []byte {
	// The clock from the seconds of the day: t.Clock would work the date
	// out a second time.
	daySec := t.Unix() % 86400
	if daySec < 0 {
		daySec += 86400
	}
	hour, minute, sec := int(daySec/3600), int(daySec/60%60), int(daySec%60)
	var b [19]byte // 15:04:05.000000000Z
	put2(b[0:], hour)
	b[2] = ':'
	put2(b[3:], minute)
	b[5] = ':'
	put2(b[6:], sec)
	b[8] = '.'
	ns := t.Nanosecond()
	b[17] = byte('0' + ns%10)
	ns /= 10
	put2(b[15:], ns%100)
	ns /= 100
	put2(b[13:], ns%100)
	ns /= 100
	put2(b[11:], ns%100)
	put2(b[9:], ns/100)
	b[18] = 'Z'
	return append(dst, b[:]...)
}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// put2 writes v (0–99) as two decimal digits at b[0:2].
func put2(b []byte, v int) {
	b[0], b[1] = digitPairs[2*v], digitPairs[2*v+1]
}

// appendStringField appends field, the literal `,"key":` that starts a
// field (one copy instead of three), and value as a JSON string.
func appendStringField(dst []byte, field, value string) []byte {
	dst = append(dst, field...)
	return appendString(dst, value)
}

// appendDecimalField appends field, the literal `,"key":"`, and d and the
// closing quote.
func appendDecimalField(dst []byte, field string, d decimal.Decimal) []byte {
	dst = append(dst, field...)
	dst = appendDecimal(dst, d)
	return append(dst, '"')
}

// appendNullDecimalField appends the field only when d is valid: absent
// optional values are omitted.
func appendNullDecimalField(dst []byte, field string, d decimal.NullDecimal) []byte {
	if !d.Valid {
		return dst
	}
	return appendDecimalField(dst, field, d.Decimal)
}

// appendLevels appends field, the literal `,"key":[`, then
// ["price","size"],... and the closing bracket.
func appendLevels(dst []byte, field string, levels []market.Level) []byte {
	dst = append(dst, field...)
	for i, l := range levels {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[', '"')
		dst = appendDecimal(dst, l.Price)
		dst = append(dst, '"', ',', '"')
		dst = appendDecimal(dst, l.Size)
		dst = append(dst, '"', ']')
	}
	return append(dst, ']')
}

// maxFastDigits is the longest coefficient appendDecimal formats itself:
// every 18-digit number fits an int64.
const maxFastDigits = 18

// maxFastScale bounds the fractional digits appendDecimal writes itself;
// beyond, it defers to String (which also handles absurd exponents).
const maxFastScale = 64

// appendDecimal appends d with the scale it carries: "2250.10" stays
// "2250.10", as PostgreSQL's numeric keeps it and as the exchange sent it,
// so that a subscriber sees the digits the database holds. It does not
// allocate when the coefficient has at most 18 digits and the exponent is
// not positive (every price and size seen on the wire); other values are
// formatted by exactDecimal.
func appendDecimal(dst []byte, d decimal.Decimal) []byte {
	exp := d.Exponent()
	if exp > 0 || -exp > maxFastScale || d.NumDigits() > maxFastDigits {
		return append(dst, exactDecimal(d)...)
	}
	coef := d.CoefficientInt64()
	neg := coef < 0
	u := uint64(coef)
	if neg {
		u = -u
	}
	// Written backwards into one buffer, two digits at a time, the point
	// at its place, then appended in one copy: at most maxFastScale+1
	// digits (19 when the coefficient is longer than the scale), the
	// point and the sign.
	var b [maxFastScale + 22]byte
	i := len(b)
	scale := int(-exp)
	k := scale
	for ; k >= 2; k -= 2 {
		i -= 2
		put2(b[i:], int(u%100))
		u /= 100
	}
	if k == 1 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	if scale > 0 {
		i--
		b[i] = '.'
	}
	for u >= 100 {
		i -= 2
		put2(b[i:], int(u%100))
		u /= 100
	}
	if u >= 10 {
		i -= 2
		put2(b[i:], int(u))
	} else {
		i--
		b[i] = byte('0' + u)
	}
	if neg {
		i--
		b[i] = '-'
	}
	return append(dst, b[i:]...)
}

// exactDecimal formats d with its own scale: StringFixed for a negative
// exponent, String otherwise.
func exactDecimal(d decimal.Decimal) string {
	if exp := d.Exponent(); exp < 0 {
		return d.StringFixed(-exp)
	}
	return d.String()
}

const hexDigits = "0123456789abcdef"

// plainJSON holds '1' at the bytes a JSON string holds as they are:
// printable ASCII but '"' and '\' (one load per byte instead of four
// comparisons). Rows of 32 bytes, from 0x00 to 0xff.
const plainJSON = "" +
	"00000000000000000000000000000000" +
	"11011111111111111111111111111111" +
	"11111111111111111111111111110111" +
	"11111111111111111111111111111111" +
	"00000000000000000000000000000000" +
	"00000000000000000000000000000000" +
	"00000000000000000000000000000000" +
	"00000000000000000000000000000000"

// appendString appends s as a JSON string. The output is the same as
// encoding/json's with HTML escaping off: '"' and '\' are escaped, control
// characters become \b, \f, \n, \r, \t or \u00XX, U+2028 and U+2029 are
// escaped, and each byte that is not valid UTF-8 becomes \ufffd, so the
// result is always valid JSON.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	done := 0 // s[:done] is already in dst
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plainWord(load64(s, i)) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if plainJSON[c] == '1' {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[done:i]...)
			dst = appendEscapedByte(dst, c)
			i++
			done = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[done:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[done:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	dst = append(dst, s[done:]...)
	return append(dst, '"')
}

// load64 reads s[i:i+8] as one little-endian word (the compiler makes it
// one load).
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// Every byte of a word set to 0x01, and to 0x80.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainWord reports whether the eight bytes of x are all plain (see
// plainJSON): none has its high bit set, none is below 0x20, none is '"'
// or '\'. (v - ones) &^ v & highs is not zero exactly when a byte of v is
// zero, (x - n*ones) &^ x & highs exactly when a byte of x is below n.
func plainWord(x uint64) bool {
	quote := x ^ ('"' * ones)
	backslash := x ^ ('\\' * ones)
	bad := x&highs |
		(x-0x20*ones)&^x&highs |
		(quote-ones)&^quote&highs |
		(backslash-ones)&^backslash&highs
	return bad == 0
}

// appendEscapedByte appends the escape of an ASCII byte that cannot appear
// raw in a JSON string.
func appendEscapedByte(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

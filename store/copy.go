package store

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// copyEncoder builds one COPY ... FROM STDIN (FORMAT binary) stream in a
// buffer that is reused from batch to batch. Encoding a row allocates
// nothing: every value is written straight in PostgreSQL's binary format
// (numeric from the decimal's coefficient and exponent, without math/big
// for coefficients of up to 18 digits).
type copyEncoder struct {
	buf []byte
}

// copySignature opens a binary COPY stream: the signature, the flags field
// (no OIDs) and the length of the (empty) header extension.
const copySignature = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// maxRetainedStream is the largest stream buffer kept for the next batch;
// a larger one (a batch of big book snapshots) is left to the collector.
const maxRetainedStream = 16 << 20

// reset starts a new stream.
func (e *copyEncoder) reset() { e.buf = append(e.buf[:0], copySignature...) }

// release ends the use of the stream by one attempt. After a failed COPY
// the buffer is not reused: when the connection broke, pgconn may return
// before its sending goroutine has stopped reading the stream.
func (e *copyEncoder) release(failed bool) {
	if failed || cap(e.buf) > maxRetainedStream {
		e.buf = nil
	}
}

// finish ends the stream with its trailer and returns it; the bytes are
// valid until the next reset.
func (e *copyEncoder) finish() []byte {
	e.buf = binary.BigEndian.AppendUint16(e.buf, 0xffff)
	return e.buf
}

// row starts a tuple of fields values.
func (e *copyEncoder) row(fields int) { e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(fields)) }

func (e *copyEncoder) null() { e.buf = binary.BigEndian.AppendUint32(e.buf, 0xffffffff) }

func (e *copyEncoder) text(s string) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *copyEncoder) optText(t pgtype.Text) {
	if !t.Valid {
		e.null()
		return
	}
	e.text(t.String)
}

func (e *copyEncoder) int32(v int32) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 4)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v))
}

func (e *copyEncoder) int64(v int64) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, 8)
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v))
}

func (e *copyEncoder) bool(v bool) {
	b := byte(0)
	if v {
		b = 1
	}
	e.buf = append(e.buf, 0, 0, 0, 1, b)
}

// microsFromUnixToY2K is PostgreSQL's timestamp epoch, 2000-01-01 UTC, in
// microseconds since the Unix epoch.
const microsFromUnixToY2K = 946684800 * 1_000_000

// timestamptz writes t as microseconds since 2000-01-01 UTC, truncating
// nanoseconds as pgx does. checkTime keeps t within PostgreSQL's range.
func (e *copyEncoder) timestamptz(t time.Time) {
	us := t.Unix()*1_000_000 + int64(t.Nanosecond())/1000
	e.int64(us - microsFromUnixToY2K)
}

func (e *copyEncoder) numeric(d decimal.Decimal) {
	at := len(e.buf)
	e.buf = append(e.buf, 0, 0, 0, 0)
	e.buf = appendNumeric(e.buf, d)
	binary.BigEndian.PutUint32(e.buf[at:], uint32(len(e.buf)-at-4))
}

func (e *copyEncoder) nullNumeric(d decimal.NullDecimal) {
	if !d.Valid {
		e.null()
		return
	}
	e.numeric(d.Decimal)
}

// copySQL is the COPY statement that reads a binary stream of columns into
// table.
func copySQL(table string, columns []column) string {
	var b strings.Builder
	b.WriteString("COPY ")
	b.WriteString(table)
	b.WriteString(" (")
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	b.WriteString(") FROM STDIN (FORMAT binary)")
	return b.String()
}

// numericPosSign and numericNegSign are the sign words of PostgreSQL's
// binary numeric.
const (
	numericPosSign = 0x0000
	numericNegSign = 0x4000
)

// appendNumeric appends d in PostgreSQL's binary numeric format: the
// number of base-10000 digits, the weight of the first one, the sign, the
// display scale, then the digits. The display scale is the number of digits
// after the decimal point of d as written (-exponent), so 0.10 stays 0.10.
// A coefficient that fits int64 is split into base-10000 digits by integer
// division (appendNumericSmall), without math/big and without allocating;
// a longer one goes through its decimal digits.
func appendNumeric(buf []byte, d decimal.Decimal) []byte {
	exp := int(d.Exponent())
	dscale := max(0, -exp)
	if u, neg, ok := smallCoefficient(d); ok {
		return appendNumericSmall(buf, u, neg, exp, dscale)
	}
	var scratch [48]byte
	// The decimal digits of |coefficient|, most significant first.
	ds, neg := appendCoefficient(scratch[:0], d)
	if len(ds) == 1 && ds[0] == '0' {
		return appendNumericHeader(buf, 0, 0, numericPosSign, dscale)
	}
	// Trailing zeros of the coefficient only move the last digit's power.
	for ds[len(ds)-1] == '0' {
		ds = ds[:len(ds)-1]
		exp++
	}
	// The digit ds[i] stands for 10^(n-1-i+exp); base-10000 digit g holds
	// the powers 4g..4g+3.
	n := len(ds)
	weight := floorDiv4(n - 1 + exp)
	low := floorDiv4(exp)
	sign := numericPosSign
	if neg {
		sign = numericNegSign
	}
	buf = appendNumericHeader(buf, weight-low+1, weight, sign, dscale)
	for g := weight; g >= low; g-- {
		v := 0
		for p := 4*g + 3; p >= 4*g; p-- {
			v *= 10
			if i := n - 1 + exp - p; i >= 0 && i < n {
				v += int(ds[i] - '0')
			}
		}
		buf = binary.BigEndian.AppendUint16(buf, uint16(v))
	}
	return buf
}

// appendNumericSmall is appendNumeric for the value u×10^exp, negative if
// neg. The base-10000 digits are taken from the least significant end:
// the lowest one holds the coefficient's last 4-shift decimal digits
// times 10^shift, where shift aligns exp on a multiple of four.
func appendNumericSmall(buf []byte, u uint64, neg bool, exp, dscale int) []byte {
	if u == 0 {
		return appendNumericHeader(buf, 0, 0, numericPosSign, dscale)
	}
	// Trailing zeros of the coefficient only move the last digit's power.
	for u%10 == 0 {
		u /= 10
		exp++
	}
	low := floorDiv4(exp)
	shift := exp - 4*low // 0..3
	// At most 20 decimal digits, of which the lowest group takes at least
	// one: at most 6 groups.
	var groups [6]uint16
	// Constant divisors: the compiler multiplies instead of dividing.
	switch shift {
	case 0:
		groups[0], u = uint16(u%10000), u/10000
	case 1:
		groups[0], u = uint16(u%1000*10), u/1000
	case 2:
		groups[0], u = uint16(u%100*100), u/100
	default:
		groups[0], u = uint16(u%10*1000), u/10
	}
	n := 1
	for ; u > 0; n++ {
		groups[n] = uint16(u % 10000)
		u /= 10000
	}
	sign := numericPosSign
	if neg {
		sign = numericNegSign
	}
	buf = appendNumericHeader(buf, n, low+n-1, sign, dscale)
	for i := n - 1; i >= 0; i-- {
		buf = binary.BigEndian.AppendUint16(buf, groups[i])
	}
	return buf
}

func appendNumericHeader(buf []byte, ndigits, weight, sign, dscale int) []byte {
	buf = binary.BigEndian.AppendUint16(buf, uint16(ndigits))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(sign))
	return binary.BigEndian.AppendUint16(buf, uint16(dscale))
}

// floorDiv4 is x/4 rounded towards minus infinity.
func floorDiv4(x int) int {
	if x >= 0 {
		return x / 4
	}
	return -((-x + 3) / 4)
}

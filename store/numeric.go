package store

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// PostgreSQL's numeric keeps at most 16383 digits after the decimal point
// and 131072 before it.
const (
	maxNumericScale  = 16383
	maxNumericDigits = 131072
)

// storableNumeric reports whether d fits a numeric column: whether
// checkNumeric(d) is nil.
func storableNumeric(d decimal.Decimal) bool {
	exp := d.Exponent()
	return exp >= -maxNumericScale && (exp <= 0 || int64(d.NumDigits())+int64(exp) <= maxNumericDigits)
}

func storableNullNumeric(d decimal.NullDecimal) bool { return !d.Valid || storableNumeric(d.Decimal) }

// checkNumeric reports why d cannot be stored in a numeric column, or nil.
// Exchange prices never come near these bounds; a malformed input might.
func checkNumeric(field string, d decimal.Decimal) error {
	if storableNumeric(d) {
		return nil
	}
	if exp := d.Exponent(); exp < -maxNumericScale {
		return fmt.Errorf("%s: %d digits after the decimal point, numeric keeps at most %d", field, -exp, maxNumericScale)
	}
	return fmt.Errorf("%s: more than %d digits before the decimal point", field, maxNumericDigits)
}

func checkNullNumeric(field string, d decimal.NullDecimal) error {
	if !d.Valid {
		return nil
	}
	return checkNumeric(field, d.Decimal)
}

// The first and last second of the years 1 to 9999, in seconds since the
// Unix epoch.
const (
	firstStorableSecond = -62135596800 // 0001-01-01T00:00:00
	lastStorableSecond  = 253402300799 // 9999-12-31T23:59:59
)

// storableTime reports whether t's year, in t's location, is within
// 1..9999: whether checkTime(t) is nil. It does not work out the calendar:
// t's seconds since the epoch, shifted by its zone's offset (0 for UTC,
// without a zone lookup), are compared with those of the first and last
// second of that range. The bounds on s and off keep the sum from
// overflowing; beyond them t.Year decides.
func storableTime(t time.Time) bool {
	off := 0
	if t.Location() != time.UTC {
		_, off = t.Zone()
	}
	if s := t.Unix(); s > firstStorableSecond-1<<32 && s < lastStorableSecond+1<<32 && off > -1<<31 && off < 1<<31 {
		s += int64(off)
		return s >= firstStorableSecond && s <= lastStorableSecond
	}
	y := t.Year()
	return y >= 1 && y <= 9999
}

// checkTime reports why t cannot be stored exactly in a timestamptz column
// (pgx would overflow on years beyond PostgreSQL's range), or nil.
func checkTime(field string, t time.Time) error {
	if storableTime(t) {
		return nil
	}
	return fmt.Errorf("%s: year %d is outside 1..9999", field, t.Year())
}

// smallCoefficient returns the absolute value of d's coefficient and its
// sign when the coefficient fits int64 (every one of up to 18 digits, and
// a 19-digit one up to 9223372036854775807: an 18-decimal size such as
// 1.234567890123456789), read without math/big and without allocating;
// ok is false for a longer one.
func smallCoefficient(d decimal.Decimal) (u uint64, neg, ok bool) {
	n := d.NumDigits()
	if n > 19 {
		return 0, false, false
	}
	c := d.CoefficientInt64()
	// A 19-digit coefficient beyond int64 is not read by
	// CoefficientInt64: the sign tells.
	if n == 19 && (c < 0) != (d.Sign() < 0) {
		return 0, false, false
	}
	u = uint64(c)
	if c < 0 {
		u = -u // also right for the most negative int64
	}
	return u, c < 0, true
}

// appendCoefficient appends the decimal digits of the absolute value of
// d's coefficient to buf (the coefficient's sign is neg). A coefficient
// that fits int64 is converted without math/big and without allocating
// (smallCoefficient); a longer one through big.Int.Append.
func appendCoefficient(buf []byte, d decimal.Decimal) (digits []byte, neg bool) {
	if u, neg, ok := smallCoefficient(d); ok {
		return strconv.AppendUint(buf, u, 10), neg
	}
	c := d.Coefficient()
	neg = c.Sign() < 0
	start := len(buf)
	buf = c.Append(buf, 10)
	if neg {
		buf = append(buf[:start], buf[start+1:]...)
	}
	return buf, neg
}

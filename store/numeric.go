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

// checkNumeric reports why d cannot be stored in a numeric column, or nil.
// Exchange prices never come near these bounds; a malformed input might.
func checkNumeric(field string, d decimal.Decimal) error {
	exp := d.Exponent()
	if exp < -maxNumericScale {
		return fmt.Errorf("%s: %d digits after the decimal point, numeric keeps at most %d", field, -exp, maxNumericScale)
	}
	if exp > 0 && int64(d.NumDigits())+int64(exp) > maxNumericDigits {
		return fmt.Errorf("%s: more than %d digits before the decimal point", field, maxNumericDigits)
	}
	return nil
}

func checkNullNumeric(field string, d decimal.NullDecimal) error {
	if !d.Valid {
		return nil
	}
	return checkNumeric(field, d.Decimal)
}

// checkTime reports why t cannot be stored exactly in a timestamptz column
// (pgx would overflow on years beyond PostgreSQL's range), or nil.
func checkTime(field string, t time.Time) error {
	if y := t.Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%s: year %d is outside 1..9999", field, y)
	}
	return nil
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

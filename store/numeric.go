package store

import (
	"fmt"
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

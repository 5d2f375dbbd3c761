package okx

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// OKX sends every price, size and time as a JSON string holding a decimal
// numeral ("42219.9", "1597026383085"). These parse them exactly, from the
// frame's bytes, without float64.

// maxFastDigits is the most digits that always fit an int64.
const maxFastDigits = 18

var (
	errEmptyNumber = errors.New("empty number")
	errBadNumber   = errors.New("not a decimal number")
)

// parseDecimal parses a decimal numeral: an optional minus sign, digits,
// and optionally a point followed by digits and an exponent. The scale is
// kept as written ("0.10" has two decimal places).
func parseDecimal(b []byte) (decimal.Decimal, error) {
	if len(b) == 0 {
		return decimal.Decimal{}, errEmptyNumber
	}
	i := 0
	neg := false
	if b[0] == '-' {
		neg = true
		i++
	}
	var v int64
	digits, frac := 0, 0
	intStart := i
	for i < len(b) && isDigit(b[i]) {
		v = v*10 + int64(b[i]-'0')
		digits++
		i++
	}
	if i == intStart {
		return decimal.Decimal{}, fmt.Errorf("%w: %q", errBadNumber, b)
	}
	if i < len(b) && b[i] == '.' {
		i++
		fracStart := i
		for i < len(b) && isDigit(b[i]) {
			v = v*10 + int64(b[i]-'0')
			digits++
			i++
		}
		frac = i - fracStart
		if frac == 0 {
			return decimal.Decimal{}, fmt.Errorf("%w: %q", errBadNumber, b)
		}
	}
	if i == len(b) && digits <= maxFastDigits {
		if neg {
			v = -v
		}
		return decimal.New(v, int32(-frac)), nil
	}
	// Long numerals and exponents: check the rest of the grammar, then
	// let the decimal package do the arithmetic.
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		expStart := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == expStart || i-expStart > 4 {
			return decimal.Decimal{}, fmt.Errorf("%w: %q", errBadNumber, b)
		}
	}
	if i != len(b) {
		return decimal.Decimal{}, fmt.Errorf("%w: %q", errBadNumber, b)
	}
	d, err := decimal.NewFromString(string(b))
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%w: %q", errBadNumber, b)
	}
	return d, nil
}

// maxMillisDigits bounds a millisecond timestamp: 15 digits reach past the
// year 9999.
const maxMillisDigits = 15

// parseMillis parses a positive Unix time in milliseconds written in
// decimal digits and returns it in UTC.
func parseMillis(b []byte) (time.Time, error) {
	ms, err := parseMillisInt(b)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

func parseMillisInt(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > maxMillisDigits {
		return 0, fmt.Errorf("want 1 to %d digits of Unix milliseconds, got %q", maxMillisDigits, b)
	}
	var ms int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, fmt.Errorf("want Unix milliseconds, got %q", b)
		}
		ms = ms*10 + int64(c-'0')
	}
	if ms <= 0 {
		return 0, fmt.Errorf("want a positive time, got %q", b)
	}
	return ms, nil
}

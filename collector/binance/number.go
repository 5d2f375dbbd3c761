package binance

import (
	"errors"
	"fmt"
	"math"

	"github.com/shopspring/decimal"
)

var errNotDecimal = errors.New("want a decimal such as 0.0010")

// parseDecimal reads a plain decimal, -?[0-9]+(\.[0-9]+)?, keeping its exact
// digits: "0.0010" is 10 × 10⁻⁴, as decimal.NewFromString would read it.
// Binance writes prices and quantities this way; anything else (exponents,
// a leading '+', a bare '.') is refused rather than guessed at. Up to 18
// digits are read without going through text conversion.
func parseDecimal(b []byte) (decimal.Decimal, error) {
	i := 0
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		i++
	}
	var coef int64
	digits, scale := 0, 0
	dot := false
	start := i
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if digits < 18 {
				coef = coef*10 + int64(c-'0')
			}
			digits++
			if dot {
				scale++
			}
		case c == '.' && !dot && i > start:
			dot = true
		default:
			return decimal.Decimal{}, fmt.Errorf("%q: %w", b, errNotDecimal)
		}
	}
	if digits == 0 || dot && scale == 0 {
		return decimal.Decimal{}, fmt.Errorf("%q: %w", b, errNotDecimal)
	}
	if digits > 18 {
		// Too long for int64 arithmetic; the syntax is checked, so the
		// library's reading is the same.
		d, err := decimal.NewFromString(string(b))
		if err != nil {
			return decimal.Decimal{}, fmt.Errorf("%q: %w", b, err)
		}
		return d, nil
	}
	if neg {
		coef = -coef
	}
	return decimal.New(coef, int32(-scale)), nil
}

var errNotCount = errors.New("want a non-negative integer")

// parseCount reads a non-negative JSON integer literal (an id, a count,
// milliseconds) that fits int64.
func parseCount(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, errNotCount
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q: %w", b, errNotCount)
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("%q: %w", b, errNotCount)
		}
		n = n*10 + d
	}
	return n, nil
}

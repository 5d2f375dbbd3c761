package validate

import (
	"math"

	"github.com/shopspring/decimal"
)

// cmp compares a and b exactly like a.Cmp(b), without allocating in the
// common case. decimal.Decimal.Cmp allocates when the two exponents
// differ ("42219.9" against "42220"), which is usual for prices sent as
// text; here both coefficients are brought to the smaller exponent in
// int64 arithmetic when they fit, and Cmp is the fallback otherwise.
func cmp(a, b decimal.Decimal) int {
	ea, eb := a.Exponent(), b.Exponent()
	if ea == eb {
		return a.Cmp(b) // same exponent: compares coefficients, no allocation
	}
	sa, sb := a.Sign(), b.Sign()
	if sa != sb {
		if sa > sb {
			return 1
		}
		return -1
	}
	if sa == 0 {
		return 0
	}
	// NumDigits ≤ 18 means |coefficient| < 10^18, so it fits an int64.
	if a.NumDigits() <= 18 && b.NumDigits() <= 18 {
		ca, cb := a.CoefficientInt64(), b.CoefficientInt64()
		ok := true
		if ea > eb {
			ca, ok = scaleUp(ca, int64(ea)-int64(eb))
		} else {
			cb, ok = scaleUp(cb, int64(eb)-int64(ea))
		}
		if ok {
			switch {
			case ca < cb:
				return -1
			case ca > cb:
				return 1
			}
			return 0
		}
	}
	return a.Cmp(b)
}

// scaleUp returns c × 10^n and true, or false when that overflows an
// int64. c is never 0 here, so the loop ends within 19 steps.
func scaleUp(c, n int64) (int64, bool) {
	for ; n > 0; n-- {
		if c > math.MaxInt64/10 || c < math.MinInt64/10 {
			return 0, false
		}
		c *= 10
	}
	return c, true
}

package wire

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/shopspring/decimal"
)

// ErrNotDecimal is wrapped by ParseDecimal's errors.
var ErrNotDecimal = errors.New("want a plain decimal such as 0.10")

// ErrNotCount is wrapped by ParseCount's errors.
var ErrNotCount = errors.New("want a non-negative integer")

// maxWideDigits is the most significant digits read without going through
// text: 38 digits always fit 128 bits.
const maxWideDigits = 38

// ParseDecimal reads a price, size or amount by the kit's one decimal
// rule, the same for every exchange: the text inside the JSON string is
//
//	-?(0|[1-9][0-9]*)(\.[0-9]+)?
//
// that is, an optional minus, an integer part without redundant leading
// zeros, and an optional point followed by at least one digit. The exact
// digits are kept: "0.10" is 10 × 10⁻², as decimal.NewFromString reads it,
// so an exchange's scale survives to the database. "-0" and "-0.00" read
// as zero. Everything else is refused with ErrNotDecimal rather than
// guessed at: the empty string, exponents ("1e-8"), a leading '+', leading
// zeros ("007"), a bare or trailing point (".5", "5."), white space,
// thousands separators, "NaN" and "Infinity". OKX, Binance and Coinbase
// document and send only this form (see the kit's README); an exchange
// that writes "" for "no value" checks for it before calling. A scale
// beyond decimal.MaxDecodeExponent is refused, as NewFromString refuses
// it. Up to 38 significant digits (an 18-decimal size such as
// 1.234567890123456789 has 19) are read without going through text
// conversion, into the decimal's coefficient and nothing else.
func ParseDecimal(b []byte) (decimal.Decimal, error) {
	if c, scale, ok := parseShortDecimal(b); ok {
		return decimal.New(c, -scale), nil
	}
	return parseDecimal(b)
}

// maxShortDigits is the most digits parseShortDecimal reads: 18 digits
// always fit int64.
const maxShortDigits = 18

// parseShortDecimal reads the usual decimal, valid by the rule and of at
// most 18 digits, into an int64 coefficient and a scale, with one loop for
// the integer part and one for the fraction. ok is false for anything
// else, valid or not, which parseDecimal reads or refuses; for what it
// reads, both give the same coefficient and scale.
func parseShortDecimal(b []byte) (c int64, scale int32, ok bool) {
	i := 0
	if len(b) > 0 && b[0] == '-' {
		i = 1
	}
	// With a point, 19 bytes hold at most 18 digits.
	if len(b)-i > maxShortDigits+1 {
		return 0, 0, false
	}
	start := i
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		c = c*10 + int64(b[i]-'0')
	}
	if n := i - start; n == 0 || n > 1 && b[start] == '0' || n > maxShortDigits {
		return 0, 0, false
	}
	if i < len(b) {
		if b[i] != '.' {
			return 0, 0, false
		}
		i++
		frac := i
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			c = c*10 + int64(b[i]-'0')
		}
		if i == frac || i != len(b) {
			return 0, 0, false
		}
		scale = int32(i - frac)
	}
	if b[0] == '-' {
		c = -c
	}
	return c, scale, true
}

// parseDecimal is ParseDecimal for every input: the rule's syntax check,
// 38 digits in 128 bits, longer ones through the library.
func parseDecimal(b []byte) (decimal.Decimal, error) {
	i := 0
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		i++
	}
	if len(b) > i+1 && b[i] == '0' && b[i+1] != '.' {
		return decimal.Decimal{}, fmt.Errorf("%q: %w", b, ErrNotDecimal)
	}
	// The coefficient is hi×2⁶⁴ + lo; sig counts its digits from the
	// first that is not zero.
	var hi, lo uint64
	digits, sig, scale := 0, 0, 0
	dot := false
	for start := i; i < len(b); i++ {
		switch c := b[i]; {
		case c >= '0' && c <= '9':
			digits++
			if dot {
				scale++
			}
			d := uint64(c - '0')
			switch {
			case sig == 0 && d == 0:
			case hi == 0 && lo <= (math.MaxUint64-9)/10:
				lo = lo*10 + d
				sig++
			default:
				sig++
				if sig <= maxWideDigits {
					h, l := bits.Mul64(lo, 10)
					var carry uint64
					lo, carry = bits.Add64(l, d, 0)
					hi = hi*10 + h + carry
				}
			}
		case c == '.' && !dot && i > start:
			dot = true
		default:
			return decimal.Decimal{}, fmt.Errorf("%q: %w", b, ErrNotDecimal)
		}
	}
	if digits == 0 || dot && scale == 0 {
		return decimal.Decimal{}, fmt.Errorf("%q: %w", b, ErrNotDecimal)
	}
	if scale > decimal.MaxDecodeExponent {
		return decimal.Decimal{}, fmt.Errorf("%q: %d digits after the point, more than %d: %w", b, scale, decimal.MaxDecodeExponent, ErrNotDecimal)
	}
	if sig > maxWideDigits {
		// Too long for 128 bits; the syntax is checked, so the library
		// reads the same number.
		d, err := decimal.NewFromString(string(b))
		if err != nil {
			return decimal.Decimal{}, fmt.Errorf("%q: %w", b, err)
		}
		return d, nil
	}
	if hi == 0 && lo <= math.MaxInt64 {
		c := int64(lo)
		if neg {
			c = -c
		}
		return decimal.New(c, int32(-scale)), nil
	}
	// The coefficient's words, least significant first; NewFromBigInt
	// copies them.
	var w [4]big.Word
	n := 4
	if bits.UintSize == 64 {
		w[0], w[1], n = big.Word(lo), big.Word(hi), 2
	} else {
		w[0], w[1], w[2], w[3] = big.Word(lo), big.Word(lo>>32), big.Word(hi), big.Word(hi>>32)
	}
	var coef big.Int
	coef.SetBits(w[:n])
	if neg {
		coef.Neg(&coef)
	}
	return decimal.NewFromBigInt(&coef, int32(-scale)), nil
}

// ParseNumber reads a price, size or volume that the exchange writes as a
// JSON number rather than a string: the documented cases are Coinbase's
// REST candles ([time, low, high, open, close, volume], "values are JSON
// numbers") and Kraken's WebSocket v2 prices and quantities, which a float
// serializer may write with an exponent ("1e-05"). b must be exactly one
// number by RFC 8259's grammar (see SkipNumber); its value is read exactly
// as written, never through float64. Anything else is refused with
// ErrNotDecimal.
func ParseNumber(b []byte) (decimal.Decimal, error) {
	if end, ok := SkipNumber(b, 0); !ok || end != len(b) {
		return decimal.Decimal{}, fmt.Errorf("%q: %w", b, ErrNotDecimal)
	}
	d, err := decimal.NewFromString(string(b))
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%q: %w: %w", b, ErrNotDecimal, err)
	}
	return d, nil
}

// ParseCount reads a non-negative integer literal (an id, a count, a
// sequence number, a Unix time) that fits int64.
func ParseCount(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, ErrNotCount
	}
	var n int64
	if len(b) <= maxShortDigits {
		// Up to 18 digits cannot overflow.
		for _, c := range b {
			if c-'0' > 9 {
				return 0, fmt.Errorf("%q: %w", b, ErrNotCount)
			}
			n = n*10 + int64(c-'0')
		}
		return n, nil
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q: %w", b, ErrNotCount)
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("%q: %w", b, ErrNotCount)
		}
		n = n*10 + d
	}
	return n, nil
}

// SkipNumber returns the index just after the JSON number (RFC 8259's
// grammar: an optional minus, an integer part without leading zeros, an
// optional fraction and an optional exponent) that starts at b[i]. When
// there is none, ok is false and end is where the grammar failed. It is
// the number rule of the adapters' hand-written JSON scanners.
func SkipNumber(b []byte, i int) (end int, ok bool) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		j = skipDigits(b, j)
	default:
		return j, false
	}
	if j < len(b) && b[j] == '.' {
		d := j + 1
		if j = skipDigits(b, d); j == d {
			return j, false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		d := j
		if j = skipDigits(b, d); j == d {
			return j, false
		}
	}
	return j, true
}

// skipDigits returns the index of the first byte at or after i that is
// not an ASCII digit.
func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

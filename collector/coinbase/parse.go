package coinbase

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shopspring/decimal"
)

var errNotDecimal = errors.New("want a decimal such as 0.10")

// parseDecimal reads a plain decimal, -?[0-9]+(\.[0-9]+)?, keeping its
// exact digits: "0.10" is 10 × 10⁻², as decimal.NewFromString reads it.
// Coinbase writes prices and sizes this way in strings; anything else
// (exponents, a leading '+', a bare '.') is refused rather than guessed at.
// Up to 18 digits are read without going through text conversion.
func parseDecimal(b []byte) (decimal.Decimal, error) {
	i := 0
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		i++
	}
	var coef int64
	digits, scale := 0, 0
	dot := false
	for start := i; i < len(b); i++ {
		switch c := b[i]; {
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
		// library reads the same number.
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

// parseCount reads a non-negative integer literal (a trade id, a sequence
// number, unix seconds) that fits int64.
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

var errNotTime = errors.New("want an RFC 3339 time such as 2014-11-07T08:19:27.028459Z")

// parseTime reads an RFC 3339 time, as Coinbase writes it
// ("2014-11-07T08:19:27.028459Z", microseconds in UTC), and returns it in
// UTC. The common form (UTC, "Z", up to nine fraction digits) is read by
// hand; other offsets go through time.Parse.
func parseTime(b []byte) (time.Time, error) {
	if t, ok := parseUTC(b); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil || len(b) < len("2006-01-02T15:04:05Z") || b[10] != 'T' {
		return time.Time{}, fmt.Errorf("%q: %w", b, errNotTime)
	}
	return t.UTC(), nil
}

// parseUTC reads YYYY-MM-DDTHH:MM:SS[.fraction]Z. It reports false for
// anything else, including impossible dates.
func parseUTC(b []byte) (time.Time, bool) {
	const head = len("2006-01-02T15:04:05")
	if len(b) < head+1 || b[len(b)-1] != 'Z' ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[head : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := digits(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for k := len(frac) - 1; k < 9; k++ {
			n *= 10
		}
		nsec = n
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// digits reads a run of decimal digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

package coinbase

import (
	"errors"
	"fmt"
	"time"
)

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

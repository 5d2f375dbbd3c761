package okx

import (
	"fmt"
	"time"
)

// OKX sends every price, size and time as a JSON string holding a decimal
// numeral ("42219.9", "1597026383085"). Prices and sizes are read by the
// kit's decimal rule (wire.ParseDecimal); times here, exactly, from the
// frame's bytes, without float64.

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

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

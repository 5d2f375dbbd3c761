package market

import "math"

// DecimalTradeID reports whether id is a decimal integer above 0 of any
// length (leading zeros allowed), as the exchanges that number their
// trades one by one send it. Ids too long for NumericID are compared with
// CompareTradeIDs and TradeIDDistance. It does not allocate.
func DecimalTradeID(id string) bool {
	nonZero := false
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < '0' || c > '9' {
			return false
		}
		nonZero = nonZero || c != '0'
	}
	return nonZero
}

// trimZeros drops the leading zeros of a decimal integer.
func trimZeros(s string) string {
	i := 0
	for i < len(s)-1 && s[i] == '0' {
		i++
	}
	return s[i:]
}

// CompareTradeIDs compares two decimal trade ids (see DecimalTradeID) as
// numbers of any length: -1 if a < b, 0 if a == b, +1 if a > b. It does
// not allocate.
func CompareTradeIDs(a, b string) int {
	a, b = trimZeros(a), trimZeros(b)
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	case a < b: // same length: the byte order is the numeric order
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TradeIDDistance returns to - from for decimal trade ids (see
// DecimalTradeID) with from <= to, of any length; a difference above
// math.MaxUint64 is returned as math.MaxUint64. With n trades covered by
// to (see Trade.Aggregates), trades are missing between from and to when
// the distance is above n; a distance of 1 means to succeeds from (which
// holds across a carry, e.g. 999999999999999999999 to
// 1000000000000000000000). It does not allocate.
func TradeIDDistance(from, to string) uint64 {
	from, to = trimZeros(from), trimZeros(to)
	var diff uint64
	pow := uint64(1) // 10^k for the digit k places from the right
	powOK := true    // pow did not overflow
	borrow := 0
	for k := 0; k < len(to); k++ {
		d := int(to[len(to)-1-k] - '0')
		if k < len(from) {
			d -= int(from[len(from)-1-k] - '0')
		}
		d -= borrow
		borrow = 0
		if d < 0 {
			d += 10
			borrow = 1
		}
		if d != 0 {
			if !powOK {
				return math.MaxUint64
			}
			add := uint64(d) * pow
			if add/pow != uint64(d) || diff > math.MaxUint64-add {
				return math.MaxUint64
			}
			diff += add
		}
		if powOK {
			if pow > math.MaxUint64/10 {
				powOK = false
			} else {
				pow *= 10
			}
		}
	}
	return diff
}

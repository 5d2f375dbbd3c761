package market

import (
	"math"
	"strings"
	"testing"
)

func TestCompareTradeIDs(t *testing.T) {
	nines := strings.Repeat("9", 19)
	for _, tc := range []struct {
		name string
		a, b string
		want int
	}{
		{"short", "5", "7", -1},
		{"equal", "42", "42", 0},
		{"leading zeros", "0042", "42", 0},
		{"longer is greater", "1" + strings.Repeat("0", 19), nines, 1},
		{"19 digits", "1234567890123456789", "1234567890123456790", -1},
		{"25 digits", "9999999999999999999999999", "9999999999999999999999998", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CompareTradeIDs(tc.a, tc.b); got != tc.want {
				t.Errorf("CompareTradeIDs(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := CompareTradeIDs(tc.b, tc.a); got != -tc.want {
				t.Errorf("CompareTradeIDs(%s, %s) = %d, want %d", tc.b, tc.a, got, -tc.want)
			}
		})
	}
}

func TestTradeIDDistance(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string
		want     uint64
	}{
		{"same", "7", "7", 0},
		{"successor", "7", "8", 1},
		{"short jump", "3", "7", 4},
		{"carry 19 to 20 digits", strings.Repeat("9", 19), "1" + strings.Repeat("0", 19), 1},
		{"carry 24 to 25 digits", strings.Repeat("9", 24), "1" + strings.Repeat("0", 24), 1},
		{"19 digits successor", "1234567890123456789", "1234567890123456790", 1},
		{"25 digits jump with borrow", "1234567890123456789012345", "1234567890123456789012400", 55},
		{"25 digits, one missing", "9999999999999999999999998", "1" + strings.Repeat("0", 25), 2},
		{"leading zeros", "0099", "100", 1},
		{"beyond uint64", "1", "1" + strings.Repeat("0", 24), math.MaxUint64},
		{"max uint64", "1", "18446744073709551616", math.MaxUint64},
		{"just below", "2", "18446744073709551616", math.MaxUint64 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TradeIDDistance(tc.from, tc.to); got != tc.want {
				t.Errorf("TradeIDDistance(%s, %s) = %d, want %d", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func TestDecimalTradeID(t *testing.T) {
	for id, want := range map[string]bool{
		"1": true, strings.Repeat("9", 25): true, "007": true,
		"": false, "0": false, "000": false, "-1": false, "12a": false, "e6fa2fa0": false,
	} {
		if got := DecimalTradeID(id); got != want {
			t.Errorf("DecimalTradeID(%q) = %t, want %t", id, got, want)
		}
	}
}

func TestTradeIDHelpersAllocateNothing(t *testing.T) {
	a, b := strings.Repeat("9", 22), "1"+strings.Repeat("0", 22)
	allocs := testing.AllocsPerRun(100, func() {
		if !DecimalTradeID(b) || CompareTradeIDs(a, b) != -1 || TradeIDDistance(a, b) != 1 {
			t.Fatal("wrong result")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

package validate

import (
	"testing"

	"github.com/shopspring/decimal"
)

func TestCmp(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{name: "same scale below", a: "1.5", b: "1.6", want: -1},
		{name: "same scale equal", a: "42220", b: "42220", want: 0},
		{name: "equal across scales", a: "42220", b: "42220.000", want: 0},
		{name: "more decimals is larger", a: "42219.9", b: "42219.89", want: 1},
		{name: "integer against fraction", a: "42220", b: "42219.99999999", want: 1},
		{name: "negative against positive", a: "-0.1", b: "0.01", want: -1},
		{name: "zero against negative", a: "0.000", b: "-5", want: 1},
		{name: "zeros of different scales", a: "0", b: "0.00", want: 0},
		{name: "negatives across scales", a: "-1.5", b: "-1.55", want: 1},
		{name: "positive exponent", a: "1e3", b: "999.9", want: 1},
		{name: "18-digit coefficients", a: "123456789012345678", b: "12345678901234567.9", want: 1},
		{name: "scaling would overflow int64", a: "9223372036854775", b: "0.000000000000000001", want: 1},
		{name: "coefficients beyond int64", a: "123456789012345678901234567890", b: "123456789012345678901234567890.5", want: -1},
		{name: "far apart exponents", a: "1e-30", b: "1e30", want: -1},
		{name: "tiny differences at the 18th decimal", a: "0.000000000000000002", b: "0.00000000000000001", want: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := dec(tc.a), dec(tc.b)
			if got := cmp(a, b); got != tc.want {
				t.Errorf("cmp(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := cmp(b, a); got != -tc.want {
				t.Errorf("cmp(%s, %s) = %d, want %d", tc.b, tc.a, got, -tc.want)
			}
			if got := a.Cmp(b); got != tc.want {
				t.Fatalf("the case is wrong: decimal says %d", got)
			}
		})
	}
}

func TestCmpNeverSetDecimal(t *testing.T) {
	var zero decimal.Decimal
	if got := cmp(zero, dec("0.00")); got != 0 {
		t.Errorf("never-set against 0.00: %d", got)
	}
	if got := cmp(zero, dec("0.1")); got != -1 {
		t.Errorf("never-set against 0.1: %d", got)
	}
}

// FuzzCmp checks cmp against decimal.Decimal.Cmp on arbitrary
// coefficients and exponents.
func FuzzCmp(f *testing.F) {
	f.Add(int64(422199), int32(-1), int64(42220), int32(0))
	f.Add(int64(-15), int32(-1), int64(-155), int32(-2))
	f.Add(int64(9223372036854775807), int32(0), int64(1), int32(-18))
	f.Add(int64(-9223372036854775808), int32(3), int64(-1), int32(-20))
	f.Add(int64(0), int32(5), int64(0), int32(-5))
	f.Fuzz(func(t *testing.T, ca int64, ea int32, cb int64, eb int32) {
		a, b := decimal.New(ca, ea), decimal.New(cb, eb)
		if got, want := cmp(a, b), a.Cmp(b); got != want {
			t.Fatalf("cmp(%de%d, %de%d) = %d, decimal says %d", ca, ea, cb, eb, got, want)
		}
	})
}

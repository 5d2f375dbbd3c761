package wire

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// plainDecimal is the syntax parseDecimal accepts.
var plainDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// checkDecimal compares parseDecimal with decimal.NewFromString: on the
// plain syntax both must read the same coefficient and exponent (the same
// digits), and parseDecimal must refuse everything else.
func checkDecimal(t *testing.T, s string) {
	t.Helper()
	got, err := ParseDecimal([]byte(s))
	if !plainDecimal.MatchString(s) {
		if err == nil {
			t.Fatalf("ParseDecimal(%q) accepted %s", s, got)
		}
		return
	}
	want, werr := decimal.NewFromString(s)
	if werr != nil {
		// Beyond the library's limits (an exponent past ±10000).
		if err == nil {
			t.Fatalf("ParseDecimal(%q) accepted what NewFromString refuses: %v", s, werr)
		}
		return
	}
	if err != nil {
		t.Fatalf("ParseDecimal(%q): %v", s, err)
	}
	if got.Exponent() != want.Exponent() || got.Coefficient().Cmp(want.Coefficient()) != 0 {
		t.Fatalf("ParseDecimal(%q) = %s×10^%d, want %s×10^%d", s, got.Coefficient(), got.Exponent(), want.Coefficient(), want.Exponent())
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"integer", "100"},
		{"trailing zeros kept", "0.0010"},
		{"binance padding", "25.35190000"},
		{"negative", "-0.5"},
		{"negative zero", "-0"},
		{"zero", "0.00000000"},
		{"18 digits", "123456789.123456789"},
		{"19 digits", "1234567890.123456789"},
		{"max int64 digits", "9223372036854775807"},
		{"beyond int64", "99999999999999999999.99999999"},
		{"leading zeros", "000123.4500"},
		{"exponent beyond the library", "0." + strings.Repeat("0", 10001) + "1"},
		{"empty", ""},
		{"sign only", "-"},
		{"dot only", "."},
		{"leading dot", ".5"},
		{"trailing dot", "5."},
		{"two dots", "1.2.3"},
		{"exponent", "1e5"},
		{"plus", "+1"},
		{"unicode minus", "−1"},
		{"space", " 1"},
		{"underscore", "1_000"},
		{"letters", "abc"},
		{"nan", "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkDecimal(t, tt.in) })
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0.0010", "-12.5", "99999999999999999999.9", "1e5", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkDecimal(t, s) })
}

func TestParseCount(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"zero", "0", true},
		{"millis", "1672515782136", true},
		{"max", "9223372036854775807", true},
		{"overflow", "9223372036854775808", false},
		{"negative", "-1", false},
		{"fraction", "1.5", false},
		{"exponent", "1e3", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCount([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("ParseCount(%q) error %v, want ok %t", tt.in, err, tt.ok)
			}
			if want, _ := strconv.ParseInt(tt.in, 10, 64); tt.ok && got != want {
				t.Errorf("ParseCount(%q) = %d, want %d", tt.in, got, want)
			}
		})
	}
}

func TestSkipNumber(t *testing.T) {
	for _, tc := range []struct {
		in  string
		end int
		ok  bool
	}{
		{"0", 1, true}, {"-0", 2, true}, {"42219.9,", 7, true}, {"1e5]", 3, true}, {"1.5E-07}", 7, true},
		{"-12.0e+3 ", 8, true}, {"01", 1, true}, // a number, then a byte the caller rejects
		{"-", 1, false}, {"+1", 0, false}, {"1.", 2, false}, {"1.e5", 2, false}, {"1e", 2, false}, {"1e+", 3, false}, {".5", 0, false}, {"", 0, false},
	} {
		end, ok := SkipNumber([]byte(tc.in), 0)
		if end != tc.end || ok != tc.ok {
			t.Errorf("SkipNumber(%q) = %d, %t; want %d, %t", tc.in, end, ok, tc.end, tc.ok)
		}
	}
}

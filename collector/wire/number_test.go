package wire

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// plainDecimal is the syntax parseDecimal accepts.
var plainDecimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

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

// TestParseDecimal is the kit's decimal rule, case by case: what each
// input reads as (coefficient and exponent), or that it is refused.
func TestParseDecimal(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want is coefficient "e" exponent; "" means refused.
		want string
	}{
		{"integer", "100", "100e0"},
		{"okx price", "42219.9", "422199e-1"},
		{"okx size", "0.12060306", "12060306e-8"},
		{"trailing zeros kept", "0.0010", "10e-4"},
		{"binance padding", "25.35190000", "2535190000e-8"},
		{"coinbase price", "400.23", "40023e-2"},
		{"binance price change", "-94.99999800", "-9499999800e-8"},
		{"zero", "0", "0e0"},
		{"zero with scale", "0.00000000", "0e-8"},
		{"negative zero", "-0", "0e0"},
		{"negative zero with scale", "-0.00", "0e-2"},
		{"18 digits", "123456789.123456789", "123456789123456789e-9"},
		{"19 digits", "1234567890.123456789", "1234567890123456789e-9"},
		{"max int64 digits", "9223372036854775807", "9223372036854775807e0"},
		{"beyond int64", "99999999999999999999.99999999", "9999999999999999999999999999e-8"},
		{"18-decimal size", "1.234567890123456789", "1234567890123456789e-18"},
		{"18-decimal size, leading zeros", "0.000000000000001234", "1234e-18"},
		{"min int64", "-9223372036854775808", "-9223372036854775808e0"},
		{"max uint64", "18446744073709551615", "18446744073709551615e0"},
		{"beyond uint64", "18446744073709551616", "18446744073709551616e0"},
		{"negative beyond int64", "-12345678901234567890.123", "-12345678901234567890123e-3"},
		{"38 digits", "9999999999999999999.9999999999999999999", "99999999999999999999999999999999999999e-19"},
		{"39 digits", "-100000000000000000000000000000000000000", "-100000000000000000000000000000000000000e0"},
		{"39 digits, leading zeros", "0.000123456789012345678901234567890123456789", "123456789012345678901234567890123456789e-42"},
		{"scale at the library's limit", "0." + strings.Repeat("0", 9999) + "1", "1e-10000"},
		{"scale just beyond the library's limit", "0." + strings.Repeat("0", 10000) + "1", ""},
		{"empty", "", ""},
		{"sign only", "-", ""},
		{"dot only", ".", ""},
		{"leading dot", ".5", ""},
		{"negative leading dot", "-.5", ""},
		{"trailing dot", "5.", ""},
		{"two dots", "1.2.3", ""},
		{"leading zeros", "000123.4500", ""},
		{"leading zero", "01", ""},
		{"negative leading zero", "-01.5", ""},
		{"double zero", "00", ""},
		{"exponent", "1e5", ""},
		{"exponent with fraction", "1.5E-7", ""},
		{"plus", "+1", ""},
		{"double minus", "--1", ""},
		{"unicode minus", "−1", ""},
		{"leading space", " 1", ""},
		{"trailing space", "1 ", ""},
		{"underscore", "1_000", ""},
		{"comma", "1,000.5", ""},
		{"hex", "0x10", ""},
		{"letters", "abc", ""},
		{"nan", "NaN", ""},
		{"infinity", "Infinity", ""},
		{"exponent beyond the library", "0." + strings.Repeat("0", 10001) + "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDecimal([]byte(tt.in))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseDecimal(%q) = %s, want refused", tt.in, got)
				}
				if !errors.Is(err, ErrNotDecimal) && !strings.Contains(tt.name, "library") {
					t.Errorf("ParseDecimal(%q) error %v does not wrap ErrNotDecimal", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDecimal(%q): %v", tt.in, err)
			}
			if s := fmt.Sprintf("%se%d", got.Coefficient(), got.Exponent()); s != tt.want {
				t.Errorf("ParseDecimal(%q) = %s, want %s", tt.in, s, tt.want)
			}
			checkDecimal(t, tt.in)
		})
	}
}

// TestParseShortDecimal checks the short path against the general one:
// it must take the usual forms and read them as parseDecimal does, and
// leave everything else (too long, or not the rule) to parseDecimal.
func TestParseShortDecimal(t *testing.T) {
	for _, tt := range []struct {
		in    string
		short bool
	}{
		{"0.001", true}, {"100", true}, {"0", true}, {"-0", true}, {"-0.00", true},
		{"25.35190000", true}, {"-94.99999800", true},
		{"999999999999999999", true}, {"-999999999999999999", true},
		{"99999999999999999.9", true}, {"0.00000000000000001", true},
		{"9999999999999999999", false}, {"9223372036854775808", false},
		{"999999999999999999.9", false}, {"0.000000000000000001", false},
		{"", false}, {"-", false}, {".5", false}, {"5.", false}, {"01", false},
		{"-01", false}, {"00", false}, {"1.2.3", false}, {"1e5", false}, {"+1", false},
		{"1 ", false}, {"1/", false}, {"1:", false},
	} {
		c, scale, ok := parseShortDecimal([]byte(tt.in))
		if ok != tt.short {
			t.Errorf("parseShortDecimal(%q) ok %t, want %t", tt.in, ok, tt.short)
			continue
		}
		if !ok {
			continue
		}
		want, err := parseDecimal([]byte(tt.in))
		if err != nil {
			t.Errorf("parseShortDecimal(%q) read what parseDecimal refuses: %v", tt.in, err)
			continue
		}
		if got := decimal.New(c, -scale); got.Exponent() != want.Exponent() || got.Coefficient().Cmp(want.Coefficient()) != 0 {
			t.Errorf("parseShortDecimal(%q) = %de%d, parseDecimal %se%d", tt.in, c, -scale, want.Coefficient(), want.Exponent())
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0.0010", "-12.5", "99999999999999999999.9", "1e5", ".5", "1.234567890123456789",
		"-18446744073709551616.5", "9999999999999999999.9999999999999999999", "0.00000000000000000000001"} {
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
		{"18 digits", "999999999999999999", true},
		{"19 digits", "1000000000000000000", true},
		{"byte after the digits", "12:", false},
		{"byte before the digits", "12/", false},
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

// TestParseNumber: JSON numbers, exponents included, read exactly; what
// is not one JSON number is refused.
func TestParseNumber(t *testing.T) {
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"0.32", "32e-2"},
		{"4.2", "42e-1"},
		{"12.3", "123e-1"},
		{"1415398768", "1415398768e0"},
		{"1e-05", "1e-5"},
		{"1.5E+3", "15e2"},
		{"-0", "0e0"},
		{"", ""},
		{"01", ""},
		{"+1", ""},
		{".5", ""},
		{"1.", ""},
		{"1e", ""},
		{"1 ", ""},
		{`"1"`, ""},
		{"NaN", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseNumber([]byte(tt.in))
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrNotDecimal) {
					t.Fatalf("ParseNumber(%q) = %s, %v; want ErrNotDecimal", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseNumber(%q): %v", tt.in, err)
			}
			if s := fmt.Sprintf("%se%d", got.Coefficient(), got.Exponent()); s != tt.want {
				t.Errorf("ParseNumber(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}

// BenchmarkParseDecimal reads the decimals of the benchmark's frames: an
// 8-decimal price, an 18-decimal size (19 significant digits) and a
// longer one.
func BenchmarkParseDecimal(b *testing.B) {
	for _, in := range []string{"42219.90000000", "1.234567890123456789", "12345678.123456789012345678"} {
		b.Run(in, func(b *testing.B) {
			v := []byte(in)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseDecimal(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

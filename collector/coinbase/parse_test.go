package coinbase

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"marketetl/collector/wire"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Time
		ok       bool
	}{
		{"microseconds", "2014-11-07T08:19:27.028459Z", time.Date(2014, 11, 7, 8, 19, 27, 28459000, time.UTC), true},
		{"milliseconds", "2020-03-20T00:36:59.860Z", time.Date(2020, 3, 20, 0, 36, 59, 860000000, time.UTC), true},
		{"whole seconds", "2022-10-19T23:28:22Z", time.Date(2022, 10, 19, 23, 28, 22, 0, time.UTC), true},
		{"nanoseconds", "2022-10-19T23:28:22.123456789Z", time.Date(2022, 10, 19, 23, 28, 22, 123456789, time.UTC), true},
		{"leap day", "2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"offset", "2022-10-20T01:28:22.5+02:00", time.Date(2022, 10, 19, 23, 28, 22, 500000000, time.UTC), true},
		{"no leap day", "2023-02-29T00:00:00Z", time.Time{}, false},
		{"century not leap", "1900-02-29T00:00:00Z", time.Time{}, false},
		{"month 13", "2022-13-01T00:00:00Z", time.Time{}, false},
		{"hour 24", "2022-10-19T24:00:00Z", time.Time{}, false},
		{"space for T", "2022-10-19 23:28:22Z", time.Time{}, false},
		{"no zone", "2022-10-19T23:28:22", time.Time{}, false},
		{"ten fraction digits", "2022-10-19T23:28:22.1234567891Z", time.Date(2022, 10, 19, 23, 28, 22, 123456789, time.UTC), true},
		{"empty fraction", "2022-10-19T23:28:22.Z", time.Time{}, false},
		{"unix seconds", "1415398768", time.Time{}, false},
		{"empty", "", time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTime([]byte(tc.in))
			if !tc.ok {
				if err == nil {
					t.Fatalf("parseTime(%q) = %s, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("parseTime(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestScanObject(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"empty object", `{}`, true},
		{"nested", `{"a":[1,{"b":[true,false,null]}],"c":{"d":"e"}}`, true},
		{"numbers", `{"a":-0,"b":1.5e-3,"c":0.0,"d":12E+2}`, true},
		{"escapes", `{"a":"\"\\\/\b\f\n\r\t\u00e9"}`, true},
		{"array at the top", `[1]`, false},
		{"string at the top", `"x"`, false},
		{"empty", ``, false},
		{"trailing comma", `{"a":1,}`, false},
		{"missing colon", `{"a" 1}`, false},
		{"single quotes", `{'a':1}`, false},
		{"leading zero", `{"a":01}`, false},
		{"bare minus", `{"a":-}`, false},
		{"bad exponent", `{"a":1e}`, false},
		{"bad literal", `{"a":tru}`, false},
		{"control character", "{\"a\":\"\x01\"}", false},
		{"bad escape", `{"a":"\x"}`, false},
		{"short unicode escape", `{"a":"\u12"}`, false},
		{"unterminated string", `{"a":"abc`, false},
		{"unterminated array", `{"a":[1,2}`, false},
		{"second object", `{}{}`, false},
		{"too deep", `{"a":` + string(bytes.Repeat([]byte("["), 100)) + string(bytes.Repeat([]byte("]"), 100)) + `}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f fields
			err := scanObject([]byte(tc.in), &f)
			if (err == nil) != tc.ok {
				t.Errorf("scanObject(%q) = %v, want ok %t", tc.in, err, tc.ok)
			}
		})
	}
}

// FuzzScan checks the scanner against encoding/json: a frame is accepted
// exactly when it is valid JSON with an object at the top (nesting within
// the scanner's bound).
func FuzzScan(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}]}`, `{"type":"match","price":"1.5"}`, `[1]`, `{"a":"\u00e9"}`, `{"a":1e5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > wire.MaxDepth {
			t.Skip("deeper than the scanner's bound")
		}
		var fs fields
		err := scanObject(b, &fs)
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		want := json.Valid(b) && len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != want {
			t.Fatalf("scanObject(%q) = %v; json.Valid says %t", b, err, want)
		}
	})
}

// TestScanStringSpecialBytes puts each byte that ends or breaks a string
// at every position of a long one, where the word-at-a-time skip must stop
// for it.
func TestScanStringSpecialBytes(t *testing.T) {
	const n = 40
	for _, special := range []byte{'"', '\\', 0x00, 0x0a, 0x1f} {
		for pos := 0; pos < n; pos++ {
			s := bytes.Repeat([]byte{'a'}, n)
			s[pos] = special
			in := append(append([]byte(`{"k":"`), s...), `"}`...)
			var f fields
			err := scanObject(in, &f)
			if want := json.Valid(in); (err == nil) != want {
				t.Errorf("byte %#x at %d: scanObject error %v, json.Valid %t", special, pos, err, want)
			}
			if err == nil && special == '"' {
				t.Errorf("byte %#x at %d: accepted", special, pos)
			}
		}
	}
	for _, plain := range []byte{0x20, '!', '#', '[', ']', 0x7f, 0x80, 0xff} {
		s := bytes.Repeat([]byte{plain}, n)
		in := append(append([]byte(`{"k":"`), s...), `"}`...)
		var f fields
		if err := scanObject(in, &f); err != nil {
			t.Errorf("plain byte %#x: %v", plain, err)
		}
	}
}

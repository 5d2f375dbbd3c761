package binance

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"marketetl/collector/wire"
)

// jsonDepth returns the deepest nesting of valid JSON b.
func jsonDepth(b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			return -1
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// checkScanAgrees compares the scanner's verdict on b with encoding/json's:
// the scanner accepts exactly the valid JSON objects of at most wire.MaxDepth
// levels, except those repeating a nested "data", "k" or "error".
func checkScanAgrees(t *testing.T, b []byte) {
	t.Helper()
	var m message
	err := m.scan(b)
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	valid := json.Valid(b) && len(trimmed) > 0 && trimmed[0] == '{'
	switch {
	case err == nil && !valid:
		t.Fatalf("scanner accepted invalid JSON %q", b)
	case err != nil && valid && !errors.Is(err, errRepeatedObject) && jsonDepth(b) <= wire.MaxDepth:
		t.Fatalf("scanner refused valid JSON %q: %v", b, err)
	}
}

func TestScanAgreesWithEncodingJSON(t *testing.T) {
	tests := []struct {
		name  string
		frame string
	}{
		{"empty object", `{}`},
		{"nested", `{"a":{"b":[1,-2.5e+3,"x",true,false,null,{}]},"c":[]}`},
		{"escapes", `{"a":"\"\\\/\b\f\n\r\t\u00e9"}`},
		{"utf-8", `{"a":"币安"}`},
		{"numbers", `{"a":0,"b":-0,"c":0.5,"d":1E5,"e":1e-5}`},
		{"bad numbers", `{"a":-}`},
		{"leading zero", `{"a":00}`},
		{"dot without digits", `{"a":1.}`},
		{"exponent without digits", `{"a":1e}`},
		{"plus sign", `{"a":+1}`},
		{"bare word", `{"a":nul}`},
		{"single quotes", `{'a':1}`},
		{"unquoted key", `{a:1}`},
		{"missing colon", `{"a" 1}`},
		{"missing value", `{"a":}`},
		{"unterminated string", `{"a":"x}`},
		{"unterminated array", `{"a":[1,2}`},
		{"bad unicode escape", `{"a":"\u12G4"}`},
		{"short unicode escape", `{"a":"\u12"}`},
		{"array top level", `[1]`},
		{"string top level", `"x"`},
		{"two objects", `{}{}`},
		{"trailing space", "{}\n"},
		{"depth at the limit", `{"a":` + string(bytes.Repeat([]byte("["), wire.MaxDepth-1)) + string(bytes.Repeat([]byte("]"), wire.MaxDepth-1)) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkScanAgrees(t, []byte(tt.frame)) })
	}
}

// FuzzScan checks the scanner against encoding/json on arbitrary input,
// seeded with the testdata frames.
func FuzzScan(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScanAgrees(t, b) })
}

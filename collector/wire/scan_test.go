package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// walk reads the next value with the scanner's reading methods (Object,
// Array, Value, Text) and rebuilds it as encoding/json does with
// UseNumber: objects as maps (a repeated key keeps its last value),
// arrays as slices, numbers as json.Number.
func walk(s *Scanner) (any, error) {
	switch s.Peek() {
	case '{':
		m := map[string]any{}
		err := s.Object(func(key []byte) error {
			v, err := walk(s)
			// Keys as encoding/json reads them: invalid UTF-8 becomes
			// U+FFFD (adapters compare keys byte for byte).
			m[string([]rune(string(key)))] = v
			return err
		})
		return m, err
	case '[':
		a := []any{}
		err := s.Array(func() error {
			v, err := walk(s)
			a = append(a, v)
			return err
		})
		return a, err
	}
	sp, err := s.Value()
	if err != nil {
		return nil, err
	}
	switch sp.Kind {
	case KindString:
		t, err := Text(s.Bytes(), sp)
		if err != nil {
			return nil, err
		}
		// encoding/json turns each byte of invalid UTF-8 into U+FFFD, as
		// converting to runes does.
		return string([]rune(string(t))), nil
	case KindNumber:
		return json.Number(s.Bytes()[sp.Off:sp.End]), nil
	case KindTrue:
		return true, nil
	case KindFalse:
		return false, nil
	case KindNull:
		return nil, nil
	}
	return nil, s.Errorf("walk: unexpected kind %v", sp.Kind)
}

// depth returns the deepest nesting of brackets outside strings.
func depth(b []byte) int {
	d, most, inStr := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '{' || c == '['):
			d++
			most = max(most, d)
		case !inStr && (c == '}' || c == ']'):
			d--
		}
	}
	return most
}

// checkAgainstJSON is the differential check: the scanner accepts b
// exactly when encoding/json does, both through Valid (skipping) and by
// walking every value, and the walk reads the same values.
func checkAgainstJSON(t *testing.T, b []byte) {
	t.Helper()
	if depth(b) > MaxDepth {
		t.Skip("deeper than the scanner's bound")
	}
	want := json.Valid(b)
	if err := Valid(b); (err == nil) != want {
		t.Fatalf("Valid(%q) = %v; json.Valid says %t", b, err, want)
	}
	s := NewScanner(b)
	got, err := walk(&s)
	if err == nil {
		err = s.End()
	}
	if (err == nil) != want {
		t.Fatalf("walk(%q) error %v; json.Valid says %t", b, err, want)
	}
	if !want {
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("walk(%q) error %v is not a *SyntaxError", b, err)
		}
		return
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var ref any
	if err := d.Decode(&ref); err != nil {
		t.Fatalf("encoding/json refuses what it called valid: %v", err)
	}
	if !reflect.DeepEqual(got, ref) {
		t.Fatalf("walk(%q) = %#v; encoding/json reads %#v", b, got, ref)
	}
}

// goldenFrames returns every adapter's testdata frames: the message
// shapes of every exchange the kit serves.
func goldenFrames(tb testing.TB) map[string][]byte {
	tb.Helper()
	frames := map[string][]byte{}
	for _, pattern := range []string{"../*/testdata/*.json", "../*/testdata/*/*.json", "../*/testdata/*.txt"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			tb.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			frames[f] = b
		}
	}
	if len(frames) < 50 {
		tb.Fatalf("found %d golden frames; want the adapters' testdata", len(frames))
	}
	return frames
}

func TestScanGoldenFrames(t *testing.T) {
	for name, b := range goldenFrames(t) {
		t.Run(name, func(t *testing.T) { checkAgainstJSON(t, b) })
	}
}

func TestScanCases(t *testing.T) {
	tests := []struct {
		name  string
		frame string
	}{
		{"empty", ``},
		{"space only", " \n"},
		{"empty object", `{}`},
		{"empty array", ` [ ] `},
		{"nested", `{"a":[1,{"b":null,"c":[true,false]}],"d":"x"}`},
		{"escaped key", `{"\u0074":"1","t":"2"}`},
		{"repeated key", `{"a":1,"a":2}`},
		{"escapes", `{"a":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`},
		{"lone surrogate", `{"a":"\ud800"}`},
		{"invalid utf-8", "{\"a\":\"\xff\xfe\"}"},
		{"bad escape", `{"a":"\x"}`},
		{"short unicode escape", `{"a":"\u12"}`},
		{"control character", "{\"a\":\"\x01\"}"},
		{"unterminated string", `{"a":"abc`},
		{"trailing comma", `{"a":1,}`},
		{"trailing comma in array", `[1,]`},
		{"missing colon", `{"a" 1}`},
		{"number key", `{1:2}`},
		{"leading zero", `[01]`},
		{"plus", `[+1]`},
		{"exponent", `[1.5e-7]`},
		{"bare dot", `[1.]`},
		{"literal typo", `[tru]`},
		{"data after", `{} {}`},
		{"mismatched", `[}`},
		{"depth at the limit", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)},
		{"top-level string", `"x"`},
		{"top-level number", `-0.5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkAgainstJSON(t, []byte(tt.frame)) })
	}
}

// TestScanTooDeep checks the nesting bound on both paths: skipping and
// walking.
func TestScanTooDeep(t *testing.T) {
	b := []byte(strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1))
	if err := Valid(b); err == nil {
		t.Error("Valid accepted a frame deeper than MaxDepth")
	}
	s := NewScanner(b)
	if _, err := walk(&s); err == nil {
		t.Error("walk accepted a frame deeper than MaxDepth")
	}
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
			if err := Valid(in); (err == nil) != json.Valid(in) {
				t.Errorf("byte %#x at %d: Valid %v, json.Valid %t", special, pos, err, json.Valid(in))
			}
		}
	}
	for _, plain := range []byte{0x20, '!', '#', '[', ']', 0x7f, 0x80, 0xff} {
		in := append(append([]byte(`{"k":"`), bytes.Repeat([]byte{plain}, n)...), `"}`...)
		if err := Valid(in); err != nil {
			t.Errorf("plain byte %#x: %v", plain, err)
		}
	}
}

// TestScanSpans checks what the spans point at.
func TestScanSpans(t *testing.T) {
	b := []byte(`{"px":"42219.9","n":-1.5e3,"e":"a\nb","ok":true,"o":{"x":[1]}}`)
	s := NewScanner(b)
	got := map[string]Span{}
	err := s.Object(func(key []byte) error {
		sp, err := s.Value()
		got[string(key)] = sp
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]struct {
		text string
		kind Kind
		esc  bool
	}{
		"px": {"42219.9", KindString, false},
		"n":  {"-1.5e3", KindNumber, false},
		"e":  {`a\nb`, KindString, true},
		"ok": {"true", KindTrue, false},
		"o":  {`{"x":[1]}`, KindObject, false},
	} {
		sp := got[key]
		if raw := string(b[sp.Off:sp.End]); raw != want.text || sp.Kind != want.kind || sp.Esc != want.esc {
			t.Errorf("%s: %q %v esc=%t; want %q %v esc=%t", key, raw, sp.Kind, sp.Esc, want.text, want.kind, want.esc)
		}
	}
	if txt, err := Text(b, got["e"]); err != nil || string(txt) != "a\nb" {
		t.Errorf("Text(e) = %q, %v", txt, err)
	}
	if (Span{}).Present() || !got["px"].Present() {
		t.Error("Present is wrong")
	}
}

// TestScanAllocs: reading a frame without escapes allocates nothing.
func TestScanAllocs(t *testing.T) {
	b := []byte(`{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897"}]}`)
	var n int
	allocs := testing.AllocsPerRun(100, func() {
		s := NewScanner(b)
		err := s.Object(func(key []byte) error {
			if string(key) != "data" {
				_, err := s.Value()
				return err
			}
			return s.Array(func() error {
				return s.Object(func([]byte) error {
					sp, err := s.Value()
					n += int(sp.End - sp.Off)
					return err
				})
			})
		})
		if err == nil {
			err = s.End()
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame; want 0", allocs)
	}
}

// FuzzScan is the kit's differential fuzz target against encoding/json,
// seeded with every adapter's golden frames.
func FuzzScan(f *testing.F) {
	for _, b := range goldenFrames(f) {
		f.Add(b)
	}
	for _, s := range []string{`{}`, `[1,{"b":null}]`, `{"a":"\u00e9"}`, `{"a":1e5}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkAgainstJSON(t, b) })
}

// BenchmarkValid validates every adapter's golden frames.
func BenchmarkValid(b *testing.B) {
	frames := goldenFrames(b)
	var n int64
	for _, f := range frames {
		n += int64(len(f))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range frames {
			_ = Valid(f)
		}
	}
}

// TestSkipPlain checks the word-at-a-time skip against a byte-by-byte
// one: every byte that is not plain, at every position of the first and
// second word and the tail, after and before bytes that make the word
// tests borrow (0x00, 0x01, 0x1f, 0x21, 0x23, 0x5b, 0x5d, 0x80, 0xff).
func TestSkipPlain(t *testing.T) {
	want := func(b []byte, j int) int {
		for j < len(b) && isPlain(b[j]) {
			j++
		}
		return j
	}
	fills := []byte{'a', 0x00, 0x01, 0x1f, 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff}
	stops := []byte{'"', '\\', 0x00, 0x01, 0x0a, 0x1f}
	for n := 0; n <= 20; n++ {
		for _, fill := range fills {
			b := bytes.Repeat([]byte{fill}, n)
			for start := 0; start <= n; start++ {
				if got, w := skipPlain(b, start), want(b, start); got != w {
					t.Fatalf("skipPlain(% x, %d) = %d, want %d", b, start, got, w)
				}
			}
			for pos := 0; pos < n; pos++ {
				for _, stop := range stops {
					c := bytes.Repeat([]byte{'x'}, n)
					copy(c[pos+1:], b[pos+1:])
					c[pos] = stop
					for start := 0; start <= pos; start++ {
						if got, w := skipPlain(c, start), want(c, start); got != w {
							t.Fatalf("skipPlain(% x, %d) = %d, want %d", c, start, got, w)
						}
					}
				}
			}
		}
	}
}

// TestScanOneByteKeys checks the single-byte key path against the
// general one: each byte as a key of one byte, followed by each byte that
// may follow it.
func TestScanOneByteKeys(t *testing.T) {
	for c := range 256 {
		for _, next := range []string{`"`, `":1}`, `" :1}`, `"x":1}`, `\":1}`, ``} {
			checkAgainstJSON(t, []byte(`{"`+string([]byte{byte(c)})+next))
		}
	}
}

package binance

import (
	"encoding/json"
	"errors"
	"fmt"

	"marketetl/collector/wire"
)

// A small JSON scanner for the hot path. It validates the whole frame as
// strict JSON (RFC 8259) and records where the values of the keys Binance
// uses are, without reflection and without allocating; the decoder then
// converts only the values it needs. Keys are matched case-sensitively,
// which Binance's payloads require ("t" is the trade id, "T" the trade
// time).

// Kinds of JSON values.
const (
	kindNone byte = iota
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindNull
	kindObject
	kindArray
)

// span locates one JSON value in a frame. For a string, [off, end) is the
// text between the quotes and esc says whether it holds escapes; for any
// other value it is the value's whole text.
type span struct {
	off, end int32
	kind     byte
	esc      bool
}

// present reports whether the key was in the object.
func (s span) present() bool { return s.kind != kindNone }

// maxDepth bounds the nesting of a frame; Binance's frames nest three deep.
const maxDepth = 32

// maxFrameLen keeps offsets within span's int32.
const maxFrameLen = 1<<31 - 1

// syntaxError is a frame that is not JSON.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.off, e.msg)
}

func errAt(off int, msg string) error { return &syntaxError{off: off, msg: msg} }

// errRepeatedObject refuses a frame that repeats "data", "k" or "error":
// valid JSON, but which of the two objects would be meant is a guess.
var errRepeatedObject = errors.New("nested object repeated")

// level names the object that a fields value describes.
type level uint8

const (
	levelTop   level = iota // the frame: the combined-stream wrapper, a response, or a raw payload
	levelData               // the wrapper's "data"
	levelKline              // a kline payload's "k"
	levelError              // a response's "error"
	numLevels
)

// message holds the scanned values of one frame, one fields per level.
type message struct {
	f [numLevels]fields
	// seen marks the nested levels already filled, to refuse a repeated key.
	seen [numLevels]bool
}

// childLevel returns the level whose fields receive the object under key
// in an object of level parent.
func childLevel(parent level, key []byte) (level, bool) {
	switch parent {
	case levelTop:
		switch string(key) {
		case "data":
			return levelData, true
		case "k": // a raw kline payload
			return levelKline, true
		case "error":
			return levelError, true
		}
	case levelData:
		if string(key) == "k" {
			return levelKline, true
		}
	}
	return 0, false
}

// scan validates frame and records its values.
func (m *message) scan(b []byte) error {
	if len(b) > maxFrameLen {
		return errors.New("frame too large")
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errAt(i, "want an object")
	}
	i, err := m.object(b, i, levelTop, 1)
	if err != nil {
		return err
	}
	if i = skipWS(b, i); i != len(b) {
		return errAt(i, "data after the object")
	}
	return nil
}

// object scans the object whose '{' is at b[i] into the fields of lv and
// returns the index after its '}'.
func (m *message) object(b []byte, i int, lv level, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errAt(i, "nested too deep")
	}
	f := &m.f[lv]
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errAt(i, "want a key")
		}
		ks, next, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		key := b[ks.off:ks.end]
		if ks.esc {
			if key, err = unescape(b, ks); err != nil {
				return 0, err
			}
		}
		i = skipWS(b, next)
		if i >= len(b) || b[i] != ':' {
			return 0, errAt(i, "want ':'")
		}
		i = skipWS(b, i+1)
		var v span
		if child, ok := childLevel(lv, key); ok && i < len(b) && b[i] == '{' {
			if m.seen[child] {
				return 0, fmt.Errorf("offset %d: key %q: %w", i, key, errRepeatedObject)
			}
			m.seen[child] = true
			end, err := m.object(b, i, child, depth+1)
			if err != nil {
				return 0, err
			}
			v, i = span{off: int32(i), end: int32(end), kind: kindObject}, end
		} else if v, i, err = scanValue(b, i, depth); err != nil {
			return 0, err
		}
		f.set(key, v)
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, errAt(i, "unterminated object")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, errAt(i, "want ',' or '}'")
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanValue scans the value starting at b[i] (no leading space) and
// returns its span and the index after it.
func scanValue(b []byte, i, depth int) (span, int, error) {
	if i >= len(b) {
		return span{}, 0, errAt(i, "want a value")
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{' || c == '[':
		end, err := skipComposite(b, i, depth+1)
		if err != nil {
			return span{}, 0, err
		}
		k := kindObject
		if c == '[' {
			k = kindArray
		}
		return span{off: int32(i), end: int32(end), kind: k}, end, nil
	case c == 't':
		return scanLiteral(b, i, "true", kindTrue)
	case c == 'f':
		return scanLiteral(b, i, "false", kindFalse)
	case c == 'n':
		return scanLiteral(b, i, "null", kindNull)
	case c == '-' || c >= '0' && c <= '9':
		end, ok := wire.SkipNumber(b, i)
		if !ok {
			return span{}, 0, errAt(end, "bad number")
		}
		return span{off: int32(i), end: int32(end), kind: kindNumber}, end, nil
	}
	return span{}, 0, errAt(i, "want a value")
}

// skipComposite validates the object or array whose bracket is at b[i]
// and returns the index after it.
func skipComposite(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errAt(i, "nested too deep")
	}
	obj := b[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		if obj {
			if i >= len(b) || b[i] != '"' {
				return 0, errAt(i, "want a key")
			}
			_, next, err := scanString(b, i)
			if err != nil {
				return 0, err
			}
			i = skipWS(b, next)
			if i >= len(b) || b[i] != ':' {
				return 0, errAt(i, "want ':'")
			}
			i = skipWS(b, i+1)
		}
		_, next, err := scanValue(b, i, depth)
		if err != nil {
			return 0, err
		}
		i = skipWS(b, next)
		if i >= len(b) {
			return 0, errAt(i, "unterminated object or array")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case closer:
			return i + 1, nil
		default:
			return 0, errAt(i, "want ',' or a closing bracket")
		}
	}
}

// scanString scans the string whose opening quote is at b[i].
func scanString(b []byte, i int) (span, int, error) {
	start := i + 1
	esc := false
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return span{off: int32(start), end: int32(j), kind: kindString, esc: esc}, j + 1, nil
		case c == '\\':
			esc = true
			j++
			if j >= len(b) {
				return span{}, 0, errAt(j, "unterminated string")
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return span{}, 0, errAt(j, "unterminated string")
				}
				for k := 1; k <= 4; k++ {
					if !isHex(b[j+k]) {
						return span{}, 0, errAt(j+k, "bad \\u escape")
					}
				}
				j += 4
			default:
				return span{}, 0, errAt(j, "bad escape")
			}
		case c < 0x20:
			return span{}, 0, errAt(j, "control character in string")
		}
	}
	return span{}, 0, errAt(len(b), "unterminated string")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func scanLiteral(b []byte, i int, lit string, k byte) (span, int, error) {
	end := i + len(lit)
	if end > len(b) || string(b[i:end]) != lit {
		return span{}, 0, errAt(i, "want a value")
	}
	return span{off: int32(i), end: int32(end), kind: k}, end, nil
}

// unescape returns the text of a string span that holds escapes. It
// allocates; Binance does not escape the values the adapter reads.
func unescape(b []byte, s span) ([]byte, error) {
	var out string
	if err := json.Unmarshal(b[s.off-1:s.end+1], &out); err != nil {
		return nil, fmt.Errorf("string at offset %d: %w", s.off, err)
	}
	return []byte(out), nil
}

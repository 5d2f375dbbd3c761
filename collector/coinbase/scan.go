package coinbase

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"marketetl/collector/wire"
)

// A small JSON scanner for the feed's hot path. Coinbase's feed messages
// are flat objects whose values are strings and numbers; the scanner
// checks that the whole frame is strict JSON (RFC 8259) and notes where the
// values of the keys the adapter reads are, without reflection and without
// allocating. Nested values (the channels of a subscriptions message) are
// checked and located but not entered. The decoder then converts only the
// values it needs.

// valueKind is the JSON type of a value.
type valueKind uint8

// The JSON types. kindAbsent marks a key that was not in the object.
const (
	kindAbsent valueKind = iota
	kindString
	kindNumber
	kindBool
	kindNull
	kindObject
	kindArray
)

// value locates one JSON value in a frame. For a string, b[start:end] is
// the text between the quotes and escaped says whether it holds escapes;
// for any other value it is the value's whole text.
type value struct {
	start, end int
	kind       valueKind
	escaped    bool
}

// present reports whether the key was in the object.
func (v value) present() bool { return v.kind != kindAbsent }

// fields holds the values of the keys the adapter reads. Other keys are
// checked and skipped. A repeated key keeps its last value, as in
// encoding/json.
type fields struct {
	typ, productID, time, sequence                   value
	tradeID, price, size, side                       value
	bestBid, bestBidSize, bestAsk, bestAskSize       value
	open24h, high24h, low24h, volume24h, lastTradeID value
	message, reason, channels                        value
}

// set records v as the value of key when the adapter reads that key.
func (f *fields) set(key []byte, v value) {
	switch string(key) {
	case "type":
		f.typ = v
	case "product_id":
		f.productID = v
	case "time":
		f.time = v
	case "sequence":
		f.sequence = v
	case "trade_id":
		f.tradeID = v
	case "price":
		f.price = v
	case "size":
		f.size = v
	case "side":
		f.side = v
	case "best_bid":
		f.bestBid = v
	case "best_bid_size":
		f.bestBidSize = v
	case "best_ask":
		f.bestAsk = v
	case "best_ask_size":
		f.bestAskSize = v
	case "open_24h":
		f.open24h = v
	case "high_24h":
		f.high24h = v
	case "low_24h":
		f.low24h = v
	case "volume_24h":
		f.volume24h = v
	case "last_trade_id":
		f.lastTradeID = v
	case "message":
		f.message = v
	case "reason":
		f.reason = v
	case "channels":
		f.channels = v
	}
}

// maxDepth bounds the nesting of a frame; Coinbase's feed nests three deep.
const maxDepth = 64

// syntaxError is a frame that is not JSON, or not a JSON object.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.off, e.msg)
}

func errAt(off int, msg string) error { return &syntaxError{off: off, msg: msg} }

// scanObject checks that b is one JSON object, optionally surrounded by
// white space, and records its top-level values in f.
func scanObject(b []byte, f *fields) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errAt(i, "want an object")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return errAt(i, "want a key")
			}
			k, next, err := scanString(b, i)
			if err != nil {
				return err
			}
			key := b[k.start:k.end]
			if k.escaped {
				if key, err = unescape(b, k); err != nil {
					return err
				}
			}
			i = skipSpace(b, next)
			if i >= len(b) || b[i] != ':' {
				return errAt(i, "want ':'")
			}
			v, next, err := scanValue(b, skipSpace(b, i+1), 1)
			if err != nil {
				return err
			}
			f.set(key, v)
			i = skipSpace(b, next)
			if i >= len(b) {
				return errAt(i, "unterminated object")
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return errAt(i, "want ',' or '}'")
			}
			i = skipSpace(b, i+1)
		}
	}
	if i = skipSpace(b, i); i != len(b) {
		return errAt(i, "data after the object")
	}
	return nil
}

func skipSpace(b []byte, i int) int {
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

// scanValue scans the value that starts at b[i] and returns it and the
// index after it. depth is the nesting of the enclosing object or array.
func scanValue(b []byte, i, depth int) (value, int, error) {
	if i >= len(b) {
		return value{}, 0, errAt(i, "want a value")
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{' || c == '[':
		end, err := skipComposite(b, i, depth+1)
		if err != nil {
			return value{}, 0, err
		}
		k := kindObject
		if c == '[' {
			k = kindArray
		}
		return value{start: i, end: end, kind: k}, end, nil
	case c == 't':
		return scanLiteral(b, i, "true", kindBool)
	case c == 'f':
		return scanLiteral(b, i, "false", kindBool)
	case c == 'n':
		return scanLiteral(b, i, "null", kindNull)
	case c == '-' || c >= '0' && c <= '9':
		end, ok := wire.SkipNumber(b, i)
		if !ok {
			return value{}, 0, errAt(end, "bad number")
		}
		return value{start: i, end: end, kind: kindNumber}, end, nil
	}
	return value{}, 0, errAt(i, "want a value")
}

// skipComposite checks the object or array whose bracket is at b[i] and
// returns the index after it.
func skipComposite(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errAt(i, "nested too deep")
	}
	isObject := b[i] == '{'
	closer := byte(']')
	if isObject {
		closer = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		if isObject {
			if i >= len(b) || b[i] != '"' {
				return 0, errAt(i, "want a key")
			}
			_, next, err := scanString(b, i)
			if err != nil {
				return 0, err
			}
			i = skipSpace(b, next)
			if i >= len(b) || b[i] != ':' {
				return 0, errAt(i, "want ':'")
			}
			i = skipSpace(b, i+1)
		}
		_, next, err := scanValue(b, i, depth)
		if err != nil {
			return 0, err
		}
		i = skipSpace(b, next)
		if i >= len(b) {
			return 0, errAt(i, "unterminated object or array")
		}
		if b[i] == closer {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, errAt(i, "want ',' or a closing bracket")
		}
		i = skipSpace(b, i+1)
	}
}

// scanString scans the string whose opening quote is at b[i] and returns
// it and the index after its closing quote.
func scanString(b []byte, i int) (value, int, error) {
	start := i + 1
	escaped := false
	j := start
	for {
		j = skipPlainWords(b, j)
		for j < len(b) && isPlain(b[j]) {
			j++
		}
		if j >= len(b) {
			return value{}, 0, errAt(len(b), "unterminated string")
		}
		switch b[j] {
		case '"':
			return value{start: start, end: j, kind: kindString, escaped: escaped}, j + 1, nil
		case '\\':
		default:
			return value{}, 0, errAt(j, "control character in string")
		}
		escaped = true
		j++
		if j >= len(b) {
			return value{}, 0, errAt(j, "unterminated string")
		}
		switch b[j] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if j+4 >= len(b) {
				return value{}, 0, errAt(j, "unterminated string")
			}
			for k := j + 1; k <= j+4; k++ {
				if !isHex(b[k]) {
					return value{}, 0, errAt(k, "bad \\u escape")
				}
			}
			j += 4
		default:
			return value{}, 0, errAt(j, "bad escape")
		}
		j++
	}
}

// isPlain reports whether c stands for itself inside a JSON string: not a
// quote, a backslash or a control character.
func isPlain(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' }

// Byte-wise constants for skipPlainWords.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// skipPlainWords returns the index of the first eight-byte word from b[j]
// on that holds a byte that is not plain, or the start of the last
// incomplete word. It tests eight bytes at a time with the classic
// word-at-a-time tests: (x - 0x01…01) &^ x & 0x80…80 is non-zero exactly
// when a byte of x is zero, and (x - n×0x01…01) &^ x & 0x80…80 exactly when
// a byte is below n (for n ≤ 0x80); a quote or a backslash is a zero byte of
// x XOR that byte repeated. Prices, ids and times are strings of 7 to 36
// plain bytes, which this skips in a few steps.
func skipPlainWords(b []byte, j int) int {
	for j+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[j:])
		quote := x ^ (lowBits * '"')
		backslash := x ^ (lowBits * '\\')
		control := (x - lowBits*0x20) &^ x
		if (control|(quote-lowBits)&^quote|(backslash-lowBits)&^backslash)&highBits != 0 {
			return j
		}
		j += 8
	}
	return j
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func scanLiteral(b []byte, i int, lit string, k valueKind) (value, int, error) {
	end := i + len(lit)
	if end > len(b) || string(b[i:end]) != lit {
		return value{}, 0, errAt(i, "want a value")
	}
	return value{start: i, end: end, kind: k}, end, nil
}

var errNotString = errors.New("not a string")

// unescape returns the text of a string value that holds escapes. It
// allocates; Coinbase does not escape the values the adapter reads on the
// hot path. Invalid UTF-8 becomes U+FFFD, as in encoding/json.
func unescape(b []byte, v value) ([]byte, error) {
	if v.kind != kindString {
		return nil, errNotString
	}
	var s string
	if err := json.Unmarshal(b[v.start-1:v.end+1], &s); err != nil {
		return nil, fmt.Errorf("string at offset %d: %w", v.start, err)
	}
	return []byte(s), nil
}

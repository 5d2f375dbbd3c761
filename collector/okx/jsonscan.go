package okx

import (
	"encoding/json"
	"fmt"

	"marketetl/collector/wire"
)

// A small JSON scanner for the hot path. It walks a frame once, validating
// it as strict JSON (RFC 8259) while the decoder reads the values it needs
// in place, without reflection and without allocating. Object keys are
// compared as raw bytes: a key written with escapes is taken as an unknown
// key.

// kind is the kind of a JSON value.
type kind uint8

// Kinds of JSON values.
const (
	kindNone kind = iota
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindNull
	kindObject
	kindArray
)

func (k kind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindTrue, kindFalse:
		return "boolean"
	case kindNull:
		return "null"
	case kindObject:
		return "object"
	case kindArray:
		return "array"
	}
	return "nothing"
}

// span locates one JSON value in a frame. For a string, [off, end) is the
// text between the quotes and esc says whether it holds escapes; for any
// other value it is the value's whole text.
type span struct {
	off, end int
	kind     kind
	esc      bool
}

// present reports whether the value was there.
func (s span) present() bool { return s.kind != kindNone }

// maxDepth bounds the nesting of a frame; OKX's frames nest four deep.
const maxDepth = 64

// syntaxError is a frame that is not JSON.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.off, e.msg)
}

// scanner reads JSON values from b starting at i.
type scanner struct {
	b     []byte
	i     int
	depth int
}

func (s *scanner) fail(msg string) error { return &syntaxError{off: s.i, msg: msg} }

// space skips white space.
func (s *scanner) space() {
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return
		}
		s.i++
	}
}

// end checks that nothing but white space is left.
func (s *scanner) end() error {
	s.space()
	if s.i != len(s.b) {
		return s.fail("data after the end of the value")
	}
	return nil
}

// peek returns the next byte after white space, or 0 at the end.
func (s *scanner) peek() byte {
	s.space()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// value reads any value and returns its span.
func (s *scanner) value() (span, error) {
	switch s.peek() {
	case '"':
		return s.str()
	case '{':
		return s.skipContainer(kindObject)
	case '[':
		return s.skipContainer(kindArray)
	case 't':
		return s.literal("true", kindTrue)
	case 'f':
		return s.literal("false", kindFalse)
	case 'n':
		return s.literal("null", kindNull)
	case 0:
		return span{}, s.fail("unexpected end of input")
	}
	return s.number()
}

// str reads a string; the scanner must be at its opening quote.
func (s *scanner) str() (span, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return span{}, s.fail("want a string")
	}
	s.i++
	sp := span{off: s.i, kind: kindString}
	// Fast path: plain characters up to the closing quote.
	for k, c := range s.b[s.i:] {
		if c == '"' {
			sp.end = s.i + k
			s.i += k + 1
			return sp, nil
		}
		if c < 0x20 || c == '\\' {
			s.i += k
			break
		}
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			sp.end = s.i
			s.i++
			return sp, nil
		case c == '\\':
			sp.esc = true
			s.i++
			if s.i >= len(s.b) {
				return span{}, s.fail("unterminated escape")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for k := 0; k < 4; k++ {
					if s.i >= len(s.b) || !isHex(s.b[s.i]) {
						return span{}, s.fail("bad \\u escape")
					}
					s.i++
				}
			default:
				return span{}, s.fail("bad escape")
			}
		case c < 0x20:
			return span{}, s.fail("control character in string")
		default:
			s.i++
		}
	}
	return span{}, s.fail("unterminated string")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number reads a number by RFC 8259's grammar.
func (s *scanner) number() (span, error) {
	start := s.i
	end, ok := wire.SkipNumber(s.b, s.i)
	s.i = end
	if !ok {
		return span{}, s.fail("want a number")
	}
	return span{off: start, end: s.i, kind: kindNumber}, nil
}

func (s *scanner) literal(word string, k kind) (span, error) {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return span{}, s.fail("want a value")
	}
	sp := span{off: s.i, end: s.i + len(word), kind: k}
	s.i += len(word)
	return sp, nil
}

// skipContainer reads a whole object or array, validating everything in
// it, without recursion. The scanner must be at its opening bracket.
func (s *scanner) skipContainer(k kind) (span, error) {
	start := s.i
	// isObj[d] is bit d of isObj: whether nesting level d is an object.
	var isObj uint64
	depth := 0
	const (
		wantValue = iota
		wantKey
		afterValue
	)
	state := wantValue
	for {
		switch state {
		case wantValue:
			switch c := s.peek(); c {
			case '{', '[':
				if depth >= maxDepth || s.depth+depth >= maxDepth {
					return span{}, s.fail("nested too deep")
				}
				obj := c == '{'
				if obj {
					isObj |= 1 << depth
				} else {
					isObj &^= 1 << depth
				}
				depth++
				s.i++
				closing := byte(']')
				if obj {
					closing = '}'
				}
				if s.peek() == closing {
					s.i++
					depth--
					state = afterValue
				} else if obj {
					state = wantKey
				}
			default:
				if _, err := s.value(); err != nil {
					return span{}, err
				}
				state = afterValue
			}
		case wantKey:
			if s.peek() != '"' {
				return span{}, s.fail("want a key")
			}
			if _, err := s.str(); err != nil {
				return span{}, err
			}
			if s.peek() != ':' {
				return span{}, s.fail("want a colon after the key")
			}
			s.i++
			state = wantValue
		case afterValue:
			if depth == 0 {
				return span{off: start, end: s.i, kind: k}, nil
			}
			obj := isObj&(1<<(depth-1)) != 0
			switch c := s.peek(); {
			case c == ',':
				s.i++
				if obj {
					state = wantKey
				} else {
					state = wantValue
				}
			case c == '}' && obj, c == ']' && !obj:
				s.i++
				depth--
			default:
				return span{}, s.fail("want a comma or the end of the container")
			}
		}
	}
}

// object reads an object, calling member for each key with the scanner at
// the key's value; member must read exactly that value.
func (s *scanner) object(member func(key []byte) error) error {
	if s.peek() != '{' {
		return s.fail("want an object")
	}
	if s.depth++; s.depth > maxDepth {
		return s.fail("nested too deep")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail("want a key")
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.fail("want a colon after the key")
		}
		s.i++
		s.space()
		if err := member(s.b[key.off:key.end]); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("want a comma or the end of the object")
		}
	}
}

// array reads an array, calling elem with the scanner at each element;
// elem must read exactly that element.
func (s *scanner) array(elem func() error) error {
	if s.peek() != '[' {
		return s.fail("want an array")
	}
	if s.depth++; s.depth > maxDepth {
		return s.fail("nested too deep")
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.space()
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("want a comma or the end of the array")
		}
	}
}

// text returns the bytes of a string span, unescaped. It allocates only
// when the string holds escapes.
func text(b []byte, sp span) ([]byte, error) {
	raw := b[sp.off:sp.end]
	if !sp.esc {
		return raw, nil
	}
	// The quotes around the span are part of the frame.
	var out string
	if err := json.Unmarshal(b[sp.off-1:sp.end+1], &out); err != nil {
		return nil, err
	}
	return []byte(out), nil
}

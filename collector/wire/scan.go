package wire

import (
	"encoding/json"
	"fmt"
)

// Kind is the JSON type of a value found by a Scanner.
type Kind uint8

// The JSON types. KindNone marks a value that was not there (a key absent
// from its object).
const (
	KindNone Kind = iota
	KindString
	KindNumber
	KindTrue
	KindFalse
	KindNull
	KindObject
	KindArray
)

// String names the kind as error messages use it.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindNumber:
		return "number"
	case KindTrue, KindFalse:
		return "boolean"
	case KindNull:
		return "null"
	case KindObject:
		return "object"
	case KindArray:
		return "array"
	}
	return "nothing"
}

// Span locates one JSON value in a frame. For a string, [Off, End) is the
// text between the quotes and Esc says whether it holds escapes; for any
// other value it is the value's whole text. The zero Span is a value that
// was not there.
type Span struct {
	Off, End int32
	Kind     Kind
	Esc      bool
}

// Present reports whether the value was there.
func (sp Span) Present() bool { return sp.Kind != KindNone }

// MaxDepth bounds the nesting of objects and arrays in a frame; the
// exchanges' frames nest at most four deep.
const MaxDepth = 64

// MaxFrameLen is the largest frame a Scanner reads: offsets are int32.
const MaxFrameLen = 1<<31 - 1

// SyntaxError is a frame that is not JSON (RFC 8259), or not the JSON type
// the reader asked for.
type SyntaxError struct {
	// Off is the byte offset in the frame where the scanner stopped.
	Off int
	// Msg says what was wanted there.
	Msg string
}

// Error says where the frame went wrong.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Off, e.Msg)
}

// Scanner reads one frame as strict JSON (RFC 8259) in a single pass,
// while the adapter's decoder reads the values it needs in place: without
// reflection and, unless a string holds escapes, without allocating.
// Every value it passes over, read or skipped, is validated.
//
// A decoder walks the frame with Object and Array, reading each value with
// Value (or a nested Object or Array), and finishes with End. The zero
// Scanner reads an empty frame; use NewScanner or Reset. A Scanner is a
// small value meant to live on the stack.
type Scanner struct {
	b     []byte
	i     int
	depth int
	// first is set by BeginObject until NextKey reads the first member.
	first bool
}

// NewScanner returns a Scanner at the start of b.
func NewScanner(b []byte) Scanner { return Scanner{b: b} }

// Reset starts the scanner again at the start of b.
func (s *Scanner) Reset(b []byte) { *s = Scanner{b: b} }

// Bytes returns the frame being read; spans index into it.
func (s *Scanner) Bytes() []byte { return s.b }

// Pos returns the offset of the next byte to read.
func (s *Scanner) Pos() int { return s.i }

// Seek moves the scanner to offset i of the same frame, at nesting depth
// 0, to read again a value found earlier (for example an array whose
// meaning depends on a key that came after it).
func (s *Scanner) Seek(i int) { s.i, s.depth, s.first = i, 0, false }

// fail returns a SyntaxError at the current offset.
func (s *Scanner) fail(msg string) error { return &SyntaxError{Off: s.i, Msg: msg} }

// Errorf returns a SyntaxError at the current offset: the frame is JSON,
// but not the shape the decoder wants.
func (s *Scanner) Errorf(format string, args ...any) error {
	return &SyntaxError{Off: s.i, Msg: fmt.Sprintf(format, args...)}
}

// space skips white space.
func (s *Scanner) space() { s.i = skipSpace(s.b, s.i) }

// End checks that nothing but white space is left.
func (s *Scanner) End() error {
	s.space()
	if s.i != len(s.b) {
		return s.fail("data after the end of the value")
	}
	return nil
}

// Peek returns the next byte after white space, or 0 at the end, without
// reading it: '"' starts a string, '{' an object, '[' an array.
func (s *Scanner) Peek() byte {
	if i := s.i; i < len(s.b) && s.b[i] > ' ' {
		return s.b[i]
	}
	s.space()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// Value reads the next value, whatever its kind, and returns its span.
// An object or array is validated and skipped whole.
func (s *Scanner) Value() (Span, error) {
	if len(s.b) > MaxFrameLen {
		return Span{}, s.fail("frame too large")
	}
	switch s.Peek() {
	case '"':
		return s.str()
	case '{':
		return s.skipContainer(KindObject)
	case '[':
		return s.skipContainer(KindArray)
	case 't':
		return s.literal("true", KindTrue)
	case 'f':
		return s.literal("false", KindFalse)
	case 'n':
		return s.literal("null", KindNull)
	case 0:
		return Span{}, s.fail("unexpected end of input")
	}
	return s.number()
}

// number reads a number by RFC 8259's grammar.
func (s *Scanner) number() (Span, error) {
	start := s.i
	end, ok := SkipNumber(s.b, s.i)
	s.i = end
	if !ok {
		return Span{}, s.fail("want a value")
	}
	return Span{Off: int32(start), End: int32(end), Kind: KindNumber}, nil
}

func (s *Scanner) literal(word string, k Kind) (Span, error) {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return Span{}, s.fail("want a value")
	}
	sp := Span{Off: int32(s.i), End: int32(s.i + len(word)), Kind: k}
	s.i += len(word)
	return sp, nil
}

// skipContainer reads a whole object or array, validating everything in
// it, without recursion. The scanner must be at its opening bracket.
func (s *Scanner) skipContainer(k Kind) (Span, error) {
	start := s.i
	// Bit d of isObj says whether nesting level d is an object.
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
			switch c := s.Peek(); c {
			case '{', '[':
				if s.depth+depth >= MaxDepth {
					return Span{}, s.fail("nested too deep")
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
				if s.Peek() == closing {
					s.i++
					depth--
					state = afterValue
				} else if obj {
					state = wantKey
				}
			default:
				if _, err := s.Value(); err != nil {
					return Span{}, err
				}
				state = afterValue
			}
		case wantKey:
			if s.Peek() != '"' {
				return Span{}, s.fail("want a key")
			}
			if _, err := s.str(); err != nil {
				return Span{}, err
			}
			if s.Peek() != ':' {
				return Span{}, s.fail("want a colon after the key")
			}
			s.i++
			state = wantValue
		case afterValue:
			if depth == 0 {
				return Span{Off: int32(start), End: int32(s.i), Kind: k}, nil
			}
			obj := isObj&(1<<(depth-1)) != 0
			switch c := s.Peek(); {
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
				return Span{}, s.fail("want a comma or the end of the container")
			}
		}
	}
}

// Object reads an object, calling member for each key with the scanner at
// the key's value; member must read exactly that value (with Value,
// Object or Array). A key written with escapes is unescaped, which
// allocates; keys are compared by the caller, case-sensitively. A
// repeated key calls member again. member's error is returned as is.
func (s *Scanner) Object(member func(key []byte) error) error {
	if err := s.BeginObject(); err != nil {
		return err
	}
	for {
		key, ok, err := s.NextKey()
		if !ok || err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
	}
}

// BeginObject reads the opening brace of an object, whose members the
// caller then reads in a loop without a callback: NextKey, then exactly
// the key's value (with Value, Object, Array or a nested BeginObject),
// until NextKey reports the end. Object is that loop with a callback.
func (s *Scanner) BeginObject() error {
	if s.Peek() != '{' {
		return s.fail("want an object")
	}
	if s.depth+1 > MaxDepth {
		return s.fail("nested too deep")
	}
	s.depth++
	s.i++
	s.first = true
	return nil
}

// NextKey reads the comma before the next member of the object begun by
// BeginObject (none before the first), its key and its colon, and returns
// the key with the scanner at the value, which the caller must read
// before calling NextKey again. At the closing brace it reads it and
// returns ok false. Keys are as Object passes them. The frame and the
// offset are kept in locals, as in str.
func (s *Scanner) NextKey() (key []byte, ok bool, err error) {
	b, i := s.b, s.i
	if i < len(b) && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	switch {
	case i < len(b) && b[i] == '}':
		s.i = i + 1
		s.depth--
		s.first = false
		return nil, false, nil
	case s.first:
		s.first = false
	case i < len(b) && b[i] == ',':
		i++
		if i < len(b) && b[i] <= ' ' {
			i = skipSpace(b, i)
		}
	default:
		s.i = i
		return nil, false, s.fail("want a comma or the end of the object")
	}
	if i >= len(b) || b[i] != '"' {
		s.i = i
		return nil, false, s.fail("want a key")
	}
	// A key of plain bytes, the usual case, is read here (one of a
	// single byte, as Binance's payloads have, without a search); one
	// with escapes or errors goes through str.
	if i+2 < len(b) && b[i+2] == '"' && isPlain(b[i+1]) {
		key = b[i+1 : i+2]
		i += 3
	} else if j := skipPlain(b, i+1); j < len(b) && b[j] == '"' {
		key = b[i+1 : j]
		i = j + 1
	} else {
		s.i = i
		ks, err := s.str()
		if err != nil {
			return nil, false, err
		}
		if key, err = Text(b, ks); err != nil {
			return nil, false, err
		}
		i = s.i
	}
	if i < len(b) && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	if i >= len(b) || b[i] != ':' {
		s.i = i
		return nil, false, s.fail("want a colon after the key")
	}
	i++
	if i < len(b) && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	s.i = i
	return key, true, nil
}

// skipSpace returns the index of the first byte at or after i that is not
// white space.
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

// Array reads an array, calling elem with the scanner at each element;
// elem must read exactly that element. elem's error is returned as is.
func (s *Scanner) Array(elem func() error) error {
	if s.Peek() != '[' {
		return s.fail("want an array")
	}
	if s.depth+1 > MaxDepth {
		return s.fail("nested too deep")
	}
	s.depth++
	s.i++
	if s.Peek() == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.space()
		if err := elem(); err != nil {
			return err
		}
		switch s.Peek() {
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

// Text returns the text of a string span of b, unescaped as encoding/json
// does. It allocates only when the string holds escapes; otherwise it is
// the frame's own bytes, which the caller must not keep past the frame.
func Text(b []byte, sp Span) ([]byte, error) {
	raw := b[sp.Off:sp.End]
	if !sp.Esc {
		return raw, nil
	}
	// The quotes around the span are part of the frame.
	var out string
	if err := json.Unmarshal(b[sp.Off-1:sp.End+1], &out); err != nil {
		return nil, fmt.Errorf("string at offset %d: %w", sp.Off, err)
	}
	return []byte(out), nil
}

// Valid reports, as a *SyntaxError, whether b is exactly one JSON value
// with optional white space around it, nested at most MaxDepth deep.
func Valid(b []byte) error {
	s := NewScanner(b)
	if _, err := s.Value(); err != nil {
		return err
	}
	return s.End()
}

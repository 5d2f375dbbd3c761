package wire

import (
	"encoding/binary"
	"math/bits"
)

// str reads a string; the scanner must be at its opening quote. The
// frame and the offset are kept in locals: the compiler would otherwise
// load them from the Scanner on every byte.
func (s *Scanner) str() (Span, error) {
	b, i := s.b, s.i
	if i >= len(b) || b[i] != '"' {
		return Span{}, s.fail("want a string")
	}
	start := i + 1
	esc := false
	j := start
	for {
		j = skipPlain(b, j)
		if j >= len(b) {
			s.i = len(b)
			return Span{}, s.fail("unterminated string")
		}
		switch b[j] {
		case '"':
			s.i = j + 1
			return Span{Off: int32(start), End: int32(j), Kind: KindString, Esc: esc}, nil
		case '\\':
		default:
			s.i = j
			return Span{}, s.fail("control character in string")
		}
		esc = true
		j++
		if j >= len(b) {
			s.i = j
			return Span{}, s.fail("unterminated escape")
		}
		switch b[j] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			for k := j + 1; k <= j+4; k++ {
				if k >= len(b) || !isHex(b[k]) {
					s.i = k
					return Span{}, s.fail("bad \\u escape")
				}
			}
			j += 4
		default:
			s.i = j
			return Span{}, s.fail("bad escape")
		}
		j++
	}
}

// isPlain reports whether c stands for itself inside a JSON string: not a
// quote, a backslash or a control character.
func isPlain(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Byte-wise constants for notPlain.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// skipPlain returns the index of the first byte at or after b[j] that is
// not plain, or len(b). Keys, prices, ids and times are strings of 1 to
// 36 plain bytes: it tests eight bytes at a time while eight are left,
// and finds the ending byte in the word without a second look.
func skipPlain(b []byte, j int) int {
	for j+8 <= len(b) {
		if m := notPlain(binary.LittleEndian.Uint64(b[j:])); m != 0 {
			return j + bits.TrailingZeros64(m)>>3
		}
		j += 8
	}
	for j < len(b) && isPlain(b[j]) {
		j++
	}
	return j
}

// notPlain returns the high bit of each byte of x (read little-endian)
// that may not be plain; the lowest bit set, if any, marks exactly the
// first byte that is not. It uses the classic word-at-a-time tests:
// (x - 0x01…01) &^ x & 0x80…80 flags the zero bytes of x, and
// (x - n×0x01…01) &^ x & 0x80…80 the bytes below n (for n ≤ 0x80); a
// quote or a backslash is a zero byte of x XOR that byte repeated. A
// borrow can flag a plain byte above a flagged one, never one below the
// first: the bytes below it subtract without borrowing.
func notPlain(x uint64) uint64 {
	quote := x ^ (lowBits * '"')
	backslash := x ^ (lowBits * '\\')
	control := (x - lowBits*0x20) &^ x
	return (control | (quote-lowBits)&^quote | (backslash-lowBits)&^backslash) & highBits
}

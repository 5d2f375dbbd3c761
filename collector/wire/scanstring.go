package wire

import "encoding/binary"

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
		// Keys and most values end within a few bytes: look byte by byte
		// first, and eight bytes at a time only past the eighth.
		k := min(j+8, len(b))
		for j < k && isPlain(b[j]) {
			j++
		}
		if j == k {
			j = skipPlainWords(b, j)
			for j < len(b) && isPlain(b[j]) {
				j++
			}
		}
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

package bench

import "encoding/binary"

// WebSocket opcodes (RFC 6455 §5.2) with the FIN bit set. A server's
// frames are not masked.
const (
	opText = 0x81
	opPing = 0x89
)

// appendTextFrame appends payload as one unmasked text frame.
func appendTextFrame(dst, payload []byte) []byte {
	return appendFrame(dst, opText, payload)
}

// appendFrame appends one unmasked frame with the given first byte.
func appendFrame(dst []byte, first byte, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, first, byte(n))
	case n <= 0xffff:
		dst = append(dst, first, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, first, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

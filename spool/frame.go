package spool

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// A frame is marker (4 bytes) | payload length (uint32, little endian) |
// CRC-32C of the payload (uint32, little endian) | payload.
const headerLen = 12

// marker starts every frame; after a damaged frame, reading resumes at the
// next marker.
var marker = [4]byte{0xE7, 0x5C, 0x1A, 0xD0}

// MaxRecordBytes bounds an encoded record: a longer one is refused by
// Append (ErrTooLarge) and a frame announcing more is damaged.
const MaxRecordBytes = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends the frame of payload to dst.
func appendFrame(dst, payload []byte) []byte {
	dst = append(dst, marker[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

// scanResult is what scanning a segment found.
type scanResult struct {
	// Records counts intact frames.
	Records int
	// Corrupt counts damaged spans skipped: one for each run of bytes
	// between intact frames that holds no intact frame (a single damaged
	// record is one).
	Corrupt int
	// Good is the offset just past the last intact frame (or of the start
	// of a damaged span that runs to the end).
	Good int
	// Torn is true when the segment ends in an incomplete frame: a write
	// cut short by a crash. Good is then where that frame starts.
	Torn bool
}

// scanFrames calls fn with the payload of each intact frame of data, in
// order. It never panics on any input. fn returns false when it could not
// use the payload (a record it cannot decode): that counts as damage.
func scanFrames(data []byte, fn func(payload []byte) bool) scanResult {
	var res scanResult
	damaged := false // inside a damaged span, already counted
	damage := func() {
		if !damaged {
			res.Corrupt++
			damaged = true
		}
	}
	off := 0
	for off < len(data) {
		rest := data[off:]
		if len(rest) < headerLen {
			if !damaged && bytes.HasPrefix(marker[:], rest[:min(len(rest), len(marker))]) {
				res.Torn = true
				res.Good = off
				return res
			}
			damage()
			break
		}
		if !bytes.Equal(rest[:4], marker[:]) {
			damage()
			off = nextMarker(data, off+1)
			continue
		}
		n := binary.LittleEndian.Uint32(rest[4:8])
		if n > MaxRecordBytes {
			damage()
			off = nextMarker(data, off+1)
			continue
		}
		end := headerLen + int(n)
		if end > len(rest) {
			// Either the last write was cut short, or the length is
			// damaged: it is a torn tail only if no marker follows.
			next := nextMarker(data, off+1)
			if next == len(data) && !damaged {
				res.Torn = true
				res.Good = off
				return res
			}
			damage()
			off = next
			continue
		}
		payload := rest[headerLen:end]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(rest[8:12]) {
			damage()
			off = nextMarker(data, off+1)
			continue
		}
		if !fn(payload) {
			damage()
			off += end
			continue
		}
		res.Records++
		damaged = false
		off += end
		res.Good = off
	}
	if damaged {
		// A damaged span that runs to the end of the segment: nothing
		// after Good is usable.
		return res
	}
	res.Good = len(data)
	return res
}

// nextMarker returns the offset of the first marker at or after from, or
// len(data).
func nextMarker(data []byte, from int) int {
	if from >= len(data) {
		return len(data)
	}
	i := bytes.Index(data[from:], marker[:])
	if i < 0 {
		return len(data)
	}
	return from + i
}

package collector

import (
	"errors"
	"io"

	"github.com/gorilla/websocket"
)

// Sizes of the reader's frame buffer: it starts at initialFrameBuffer and
// grows with the largest frame read; one grown past maxKeptFrameBuffer (a
// large book snapshot) is dropped after that frame rather than held for
// the connection's life.
const (
	initialFrameBuffer = 4 << 10
	maxKeptFrameBuffer = 1 << 20
)

// frameBuffer reads whole WebSocket messages into one buffer reused from
// frame to frame, instead of a new slice per frame (websocket's
// ReadMessage). A frame returned by next is valid only until the next
// call: whatever outlives the frame (a decoded record, a rejected frame's
// Raw) must be copied out of it. Adapters only ever convert the frame's
// bytes to strings or decimals, which copies them; the router copies the
// raw frame it keeps for a reject. It belongs to the session's reader
// goroutine.
type frameBuffer struct {
	buf []byte
}

// next reads the next message of conn, as conn.ReadMessage does (control
// frames are handled by conn's handlers meanwhile), into the buffer.
func (f *frameBuffer) next(conn *websocket.Conn) (messageType int, frame []byte, err error) {
	mt, r, err := conn.NextReader()
	if err != nil {
		return mt, nil, err
	}
	if cap(f.buf) > maxKeptFrameBuffer || f.buf == nil {
		f.buf = make([]byte, 0, initialFrameBuffer)
	}
	b := f.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow, keeping what was read
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			f.buf = b[:0]
			if errors.Is(err, io.EOF) {
				return mt, b, nil
			}
			return mt, nil, err
		}
	}
}

package book

import (
	"errors"
	"fmt"
	"time"

	"marketetl/market"
)

// ErrSnapshotStale: a REST snapshot is older than the first event it must
// be joined with. Nothing is lost yet: fetch the snapshot again.
var ErrSnapshotStale = errors.New("book snapshot older than the stream")

// DefaultBinanceBuffer is the number of events BinanceSync buffers while
// it waits for a snapshot when BinanceSync.MaxBuffer is 0.
const DefaultBinanceBuffer = 1000

// DepthEvent is one Binance spot diff-depth event (depthUpdate): the
// update ids it covers, from FirstID (U) to LastID (u), its event time and
// its changes.
type DepthEvent struct {
	FirstID, LastID int64
	Time            time.Time
	Changes         []market.BookChange
}

// binanceState is where BinanceSync is in the documented procedure.
type binanceState uint8

const (
	buffering binanceState = iota // waiting for a snapshot
	joining                       // snapshot loaded, waiting for the event covering lastUpdateId+1
	synced                        // each event must follow the last one
)

// BinanceSync follows Binance spot's documented procedure to manage a
// local order book from <symbol>@depth[@100ms] and GET /api/v3/depth
// (web-socket-streams.md, "How to manage a local order book correctly"):
//
//  1. buffer the stream's events;
//  2. fetch a snapshot; if its lastUpdateId is below the first buffered
//     event's U, fetch again (ErrSnapshotStale);
//  3. discard the buffered events with u <= lastUpdateId; the first one
//     kept must cover lastUpdateId+1 (U <= lastUpdateId+1 <= u);
//  4. then each event's U must equal the previous event's u + 1; an event
//     with u at or below the book's update id is ignored.
//
// Anything else is a break (ErrSequenceBreak): the local book is dropped
// and the procedure starts again, with the breaking event as the first
// buffered one. The zero value is buffering and ready to use.
type BinanceSync struct {
	// MaxBuffer bounds the events buffered before a snapshot; the oldest
	// are dropped beyond it. 0 means DefaultBinanceBuffer.
	MaxBuffer int

	state binanceState
	last  int64
	buf   []DepthEvent
}

// Synced reports whether a snapshot has been joined with the stream, and
// the update id of the last applied event (or of the snapshot).
func (s *BinanceSync) Synced() (lastID int64, ok bool) { return s.last, s.state == synced }

// Event takes the next event from the stream. It returns apply true when
// the caller applies ev to its book now; false when ev was buffered or
// ignored as already applied. On ErrSequenceBreak the caller drops its
// book and fetches a new snapshot; on ErrSnapshotStale it fetches a newer
// snapshot (ev is buffered in both cases).
func (s *BinanceSync) Event(ev DepthEvent) (apply bool, err error) {
	switch s.state {
	case buffering:
		s.buffer(ev)
		return false, nil
	case joining:
		if ev.LastID <= s.last {
			return false, nil
		}
		if ev.FirstID > s.last+1 {
			last := s.last
			s.restart(ev)
			return false, fmt.Errorf("binance depth event U=%d u=%d does not cover snapshot lastUpdateId %d + 1: %w", ev.FirstID, ev.LastID, last, ErrSnapshotStale)
		}
	case synced:
		if ev.LastID <= s.last {
			return false, nil
		}
		if ev.FirstID != s.last+1 {
			last := s.last
			s.restart(ev)
			return false, fmt.Errorf("binance depth event U=%d after u=%d: %w", ev.FirstID, last, ErrSequenceBreak)
		}
	}
	s.state, s.last = synced, ev.LastID
	return true, nil
}

// Snapshot joins a REST snapshot's lastUpdateId with the buffered events.
// It returns the buffered events to apply, in order, after loading the
// snapshot into the book. On ErrSnapshotStale the caller fetches a newer
// snapshot and calls Snapshot again; on ErrSequenceBreak (the buffered
// events are not contiguous) it does the same, the buffer restarting at
// the event after the break.
func (s *BinanceSync) Snapshot(lastUpdateID int64) ([]DepthEvent, error) {
	if len(s.buf) > 0 && lastUpdateID < s.buf[0].FirstID {
		return nil, fmt.Errorf("binance snapshot lastUpdateId %d before first buffered U=%d: %w", lastUpdateID, s.buf[0].FirstID, ErrSnapshotStale)
	}
	buf := s.buf
	s.buf = nil
	s.state, s.last = joining, lastUpdateID
	var out []DepthEvent
	for i, ev := range buf {
		apply, err := s.Event(ev)
		if err != nil {
			// Event restarted the buffer with ev; keep the rest after it.
			for _, rest := range buf[i+1:] {
				s.buffer(rest)
			}
			return nil, err
		}
		if apply {
			out = append(out, ev)
		}
	}
	return out, nil
}

// Reset drops everything and goes back to buffering.
func (s *BinanceSync) Reset() {
	s.state, s.last = buffering, 0
	clear(s.buf)
	s.buf = s.buf[:0]
}

func (s *BinanceSync) restart(ev DepthEvent) {
	s.Reset()
	s.buffer(ev)
}

func (s *BinanceSync) buffer(ev DepthEvent) {
	limit := s.MaxBuffer
	if limit <= 0 {
		limit = DefaultBinanceBuffer
	}
	if len(s.buf) >= limit {
		n := copy(s.buf, s.buf[1:])
		s.buf[n] = DepthEvent{}
		s.buf = s.buf[:n]
	}
	s.buf = append(s.buf, ev)
}

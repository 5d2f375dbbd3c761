package binance

import (
	"errors"
	"fmt"

	"marketetl/collector/wire"
)

// The adapter reads a frame with the kit's scanner (wire.Scanner) in one
// pass and records where the values of the keys Binance uses are, per
// object level; the decoder then converts only the values it needs. Keys
// are matched case-sensitively, which Binance's payloads require ("t" is
// the trade id, "T" the trade time).

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
	s := wire.NewScanner(b)
	if s.Peek() != '{' {
		return s.Errorf("want an object")
	}
	if err := m.object(&s, levelTop); err != nil {
		return err
	}
	return s.End()
}

// object reads the object at the scanner into the fields of lv, entering
// the nested objects that childLevel names.
func (m *message) object(s *wire.Scanner, lv level) error {
	f := &m.f[lv]
	if err := s.BeginObject(); err != nil {
		return err
	}
	for {
		key, ok, err := s.NextKey()
		if !ok || err != nil {
			return err
		}
		child, ok := childLevel(lv, key)
		if !ok || s.Peek() != '{' {
			v, err := s.Value()
			if err != nil {
				return err
			}
			f.set(key, v)
			continue
		}
		start := s.Pos()
		if m.seen[child] {
			return fmt.Errorf("offset %d: key %q: %w", start, key, errRepeatedObject)
		}
		m.seen[child] = true
		if err := m.object(s, child); err != nil {
			return err
		}
		f.set(key, wire.Span{Off: int32(start), End: int32(s.Pos()), Kind: wire.KindObject})
	}
}

package okx

import (
	"fmt"
	"strconv"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// channelBooks is OKX's 400-level order book channel: a snapshot, then
// incremental updates every 100 ms, chained by seqId/prevSeqId
// (order-book-trading-market-data-ws-order-book-channel).
const channelBooks = "books"

// BookSequencing implements collector.BookProtocol: every books update
// names the seqId of the message before it.
func (a *Adapter) BookSequencing() collector.BookSequencing { return collector.BookChained }

var _ collector.BookProtocol = (*Adapter)(nil)

// book decodes one element of a books push: asks and bids as
// [price, size, "0", orders] (a size of "0" deletes the level), ts,
// checksum (0 since OKX's 2026 deprecation), prevSeqId (-1 for a snapshot)
// and seqId. It is a snapshot when prevSeqId is -1, as the documented
// snapshot ("action":"snapshot") has it; the frame's "action" member is
// not read.
func (d *decoder) book(s *wire.Scanner) error {
	if err := wantObject(s, "data"); err != nil {
		return d.elementError(err)
	}
	m := collector.BookMessage{Symbol: d.stream.Symbol}
	var seen struct{ ts, seq, prev bool }
	err := s.Object(func(key []byte) error {
		var err error
		switch string(key) {
		case "asks":
			err = readLevels(s, d.decimals(), "asks", market.Ask, &m)
		case "bids":
			err = readLevels(s, d.decimals(), "bids", market.Bid, &m)
		case "ts":
			m.Time, err = readTime(s, "ts")
			seen.ts = true
		case "checksum":
			m.Checksum, err = readInt(s, "checksum")
		case "prevSeqId":
			m.Prev, err = readInt(s, "prevSeqId")
			seen.prev = true
		case "seqId":
			m.Seq, err = readInt(s, "seqId")
			seen.seq = true
		default:
			_, err = s.Value()
		}
		return err
	})
	if err != nil {
		return d.elementError(err)
	}
	switch {
	case !seen.ts:
		return d.elementError(badField("ts", errMissing))
	case !seen.seq:
		return d.elementError(badField("seqId", errMissing))
	case !seen.prev:
		return d.elementError(badField("prevSeqId", errMissing))
	}
	if m.Prev == -1 {
		// A snapshot: its levels are the book, not changes.
		m.Snapshot = true
		for _, c := range m.Changes {
			l := market.Level{Price: c.Price, Size: c.Size}
			if c.Side == market.Bid {
				m.Bids = append(m.Bids, l)
			} else {
				m.Asks = append(m.Asks, l)
			}
		}
		m.Changes = nil
	}
	d.ev.Books = append(d.ev.Books, m)
	return nil
}

// readLevels reads a side's array of [price, size, "0", orders] as
// changes; only price and size are kept, read with dec.
func readLevels(s *wire.Scanner, dec *wire.Decimals, field string, side market.BookSide, m *collector.BookMessage) error {
	if s.Peek() != '[' {
		sp, err := s.Value()
		if err != nil {
			return err
		}
		return wrongKind(field, "array", sp.Kind)
	}
	return s.Array(func() error {
		if s.Peek() != '[' {
			sp, err := s.Value()
			if err != nil {
				return err
			}
			return wrongKind(field, "array of levels", sp.Kind)
		}
		col := 0
		c := market.BookChange{Side: side}
		err := s.Array(func() error {
			var err error
			switch col {
			case 0:
				c.Price, err = readDecimal(s, dec, field+".price")
			case 1:
				c.Size, err = readDecimal(s, dec, field+".size")
			default:
				_, err = s.Value()
			}
			col++
			return err
		})
		if err != nil {
			return err
		}
		if col < 2 {
			return badField(field, fmt.Errorf("a level has %d columns, want price and size", col))
		}
		m.Changes = append(m.Changes, c)
		return nil
	})
}

// readInt reads a signed integer written as a JSON number (OKX's checksum,
// seqId and prevSeqId) or as a string.
func readInt(s *wire.Scanner, field string) (int64, error) {
	sp, err := s.Value()
	if err != nil {
		return 0, err
	}
	var b []byte
	switch sp.Kind {
	case wire.KindNumber:
		b = s.Bytes()[sp.Off:sp.End]
	case wire.KindString:
		if b, err = wire.Text(s.Bytes(), sp); err != nil {
			return 0, badField(field, err)
		}
	default:
		return 0, wrongKind(field, "integer", sp.Kind)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, badField(field, fmt.Errorf("want an integer, got %q", b))
	}
	return v, nil
}

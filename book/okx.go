package book

import (
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// ErrSequenceBreak: an update does not follow the last applied one. The
// local book has missed changes and must be rebuilt from a new snapshot.
var ErrSequenceBreak = errors.New("book sequence break")

// ErrChecksum: the exchange's checksum disagrees with the local book.
var ErrChecksum = errors.New("book checksum mismatch")

// OKXChecksumLevels is how many levels per side OKX's checksum covers.
const OKXChecksumLevels = 25

// OKXSequence checks the continuity of an OKX v5 books channel: every
// update's prevSeqId equals the seqId of the message before it (a
// snapshot's prevSeqId is -1). seqId may go down after an OKX maintenance
// reset; only the chaining matters. A keep-alive update without changes
// has prevSeqId equal to seqId.
// https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel
// The zero value expects a snapshot.
type OKXSequence struct {
	last   int64
	synced bool
}

// Snapshot starts the chain at a snapshot's seqId.
func (s *OKXSequence) Snapshot(seqID int64) { s.last, s.synced = seqID, true }

// Update checks an update's prevSeqId against the last seqId and, when it
// follows, advances to seqID. It returns ErrSequenceBreak (and expects a
// new snapshot) otherwise, including an update before any snapshot.
func (s *OKXSequence) Update(prevSeqID, seqID int64) error {
	if !s.synced || prevSeqID != s.last {
		last, synced := s.last, s.synced
		*s = OKXSequence{}
		if !synced {
			return fmt.Errorf("okx update prevSeqId %d before a snapshot: %w", prevSeqID, ErrSequenceBreak)
		}
		return fmt.Errorf("okx update prevSeqId %d after seqId %d: %w", prevSeqID, last, ErrSequenceBreak)
	}
	s.last = seqID
	return nil
}

// Last returns the last seqId and whether the chain has started.
func (s *OKXSequence) Last() (seqID int64, synced bool) { return s.last, s.synced }

// OKXChecksum returns OKX's checksum of a book: the CRC32 (IEEE), as a
// signed 32-bit integer, of the top 25 bids and asks interleaved as
// "bidPx:bidSz:askPx:askSz:..." with a side's missing levels skipped,
// each number written exactly as the exchange sent it.
func OKXChecksum(bids, asks []market.Level) int32 {
	buf := make([]byte, 0, 1024)
	for i := range OKXChecksumLevels {
		if i < len(bids) {
			buf = appendLevel(buf, bids[i])
		}
		if i < len(asks) {
			buf = appendLevel(buf, asks[i])
		}
	}
	if len(buf) > 0 {
		buf = buf[:len(buf)-1] // the last ':'
	}
	return int32(crc32.ChecksumIEEE(buf))
}

func appendLevel(buf []byte, l market.Level) []byte {
	buf = append(buf, exact(l.Price)...)
	buf = append(buf, ':')
	buf = append(buf, exact(l.Size)...)
	return append(buf, ':')
}

// CheckOKX compares the checksum of an OKX books message (after applying
// it) with the local book's. A checksum of 0 means "not provided" (OKX
// sends 0 since deprecating the field in June 2026) and is accepted.
func CheckOKX(b *Book, checksum int64) error {
	if checksum == 0 {
		return nil
	}
	bids, asks := b.Top(OKXChecksumLevels, make([]market.Level, 0, OKXChecksumLevels), make([]market.Level, 0, OKXChecksumLevels))
	if got := OKXChecksum(bids, asks); int64(got) != checksum {
		return fmt.Errorf("okx checksum %d, local book %d: %w", checksum, got, ErrChecksum)
	}
	return nil
}

// exact writes d with exactly its decimal places ("0.45054140" stays
// so), as the exchange sent it.
func exact(d decimal.Decimal) string {
	if e := d.Exponent(); e < 0 {
		return d.StringFixed(-e)
	}
	if d.Exponent() == 0 {
		return strconv.FormatInt(d.CoefficientInt64(), 10)
	}
	return d.String()
}

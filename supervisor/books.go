package supervisor

import "marketetl/collector"

// bookResyncReasons are the reasons a collector counts order book
// resyncs by, in the order of the metrics.
var bookResyncReasons = []string{"sequence_break", "checksum_mismatch", "invalid_book", "drift", "reconnect"}

// BookReport is an order book stream's local book in the status report.
type BookReport struct {
	// Synced is true while the local book follows the exchange's.
	Synced bool `json:"synced"`
	// Sequence is the last applied update id (0 for Coinbase).
	Sequence int64 `json:"sequence"`
	// BidLevels and AskLevels are the local book's depth.
	BidLevels int `json:"bid_levels"`
	AskLevels int `json:"ask_levels"`
	// Spread is the best ask minus the best bid, as a decimal string
	// ("" while a side is empty).
	Spread string `json:"spread"`
	// Resyncs counts the books dropped and rebuilt, by reason.
	Resyncs          map[string]uint64 `json:"resyncs"`
	SequenceBreaks   uint64            `json:"sequence_breaks"`
	ChecksumFailures uint64            `json:"checksum_failures"`
	// Snapshots counts the book snapshots handed on (stored).
	Snapshots uint64 `json:"snapshots"`
}

func bookReport(b *collector.BookStatus) *BookReport {
	if b == nil {
		return nil
	}
	r := &BookReport{Synced: b.Synced, Sequence: b.Sequence, BidLevels: b.BidLevels, AskLevels: b.AskLevels,
		Resyncs: map[string]uint64{}, SequenceBreaks: b.SequenceBreaks, ChecksumFailures: b.ChecksumFailures, Snapshots: b.Snapshots}
	if b.BidLevels > 0 && b.AskLevels > 0 {
		r.Spread = b.Spread.String()
	}
	for _, k := range bookResyncReasons {
		r.Resyncs[k] = b.Resyncs[k]
	}
	return r
}

// mergeBook adds the counters of a finished run's book (prev) to the
// current run's (cur); the state is cur's.
func mergeBook(prev, cur *collector.BookStatus) *collector.BookStatus {
	if prev == nil {
		return cur
	}
	if cur == nil {
		c := *prev
		c.Synced, c.BidLevels, c.AskLevels = false, 0, 0
		return &c
	}
	out := *cur
	out.Resyncs = make(map[string]uint64, len(cur.Resyncs))
	for k, v := range cur.Resyncs {
		out.Resyncs[k] = v
	}
	for k, v := range prev.Resyncs {
		out.Resyncs[k] += v
	}
	out.SequenceBreaks += prev.SequenceBreaks
	out.ChecksumFailures += prev.ChecksumFailures
	out.Snapshots += prev.Snapshots
	out.Updates += prev.Updates
	return &out
}

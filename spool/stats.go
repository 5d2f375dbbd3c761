package spool

// Stats is a snapshot of a Buffer.
type Stats struct {
	State State
	// Bytes and Segments are the spool's size on disk; MaxBytes its cap.
	Bytes    int64
	Segments int
	MaxBytes int64
	// Spooled counts records written to the spool (by Write; rows spilled
	// by the writer at shutdown are in Appended), Replayed records
	// replayed and committed, Corrupt damaged records skipped, Dropped
	// records neither queued nor spooled (spool full, or the disk refused
	// them), Gaps the gaps reported for those and for the records lost to a
	// failed write after being spooled (WriteLost).
	Spooled, Appended, Replayed, Corrupt, Dropped, Gaps uint64
	// TornTails counts incomplete records cut off when the spool was opened.
	TornTails uint64
	// Unreadable counts segments set aside because they could not be read;
	// WriteLost records lost to a failed disk write after being spooled.
	Unreadable, WriteLost uint64
	// CorruptGaps counts the gaps (market.GapSpoolCorrupt) reported for
	// damaged records and unreadable segments.
	CorruptGaps uint64
	// ReplayRejected counts replayed records that failed validation and
	// were handed to the rejects instead of their table.
	ReplayRejected uint64
}

// Stats returns a snapshot of the counters. It does not wait for the
// database.
func (b *Buffer) Stats() Stats {
	state, _ := b.current.Load().(State)
	u := b.sp.Usage()
	return Stats{
		State: state, Bytes: u.Bytes, Segments: u.Segments, MaxBytes: u.MaxBytes,
		Spooled: b.spooled.Load(), Appended: u.Appended, Replayed: b.replayed.Load(),
		Corrupt: b.corrupt.Load(), Dropped: b.dropped.Load(), Gaps: b.gaps.Load(), TornTails: u.TornTails,
		Unreadable: b.unreadable.Load(), WriteLost: u.WriteLost, CorruptGaps: b.corruptGaps.Load(),
		ReplayRejected: b.replayRejected.Load(),
	}
}

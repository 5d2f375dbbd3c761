package spool

import (
	"slices"

	"go.uber.org/zap"

	"marketetl/market"
)

// reportCorrupt reports the records of segment no lost to damage: for each
// stream of the segment's index (idx, or ierr when it could not be read),
// the window of its records in the segment is a gap with reason
// market.GapSpoolCorrupt. Which records of a stream were damaged is not
// known (a damaged frame's stream cannot be read), so the whole window is
// reported; the backfill skips what is already stored.
func (b *Buffer) reportCorrupt(no int, idx segIndex, ierr error) {
	if ierr != nil {
		b.log.Error("spool: the damaged segment has no readable index; its lost records cannot be reported as gaps (the backfill of restarts and reconnects may still cover them)",
			zap.Int("segment", no), zap.Error(ierr))
		return
	}
	streams := make([]market.Stream, 0, len(idx))
	for s := range idx {
		streams = append(streams, s)
	}
	slices.SortFunc(streams, func(a, b market.Stream) int { return idx[a].From.Compare(idx[b].From) })
	for _, s := range streams {
		w := idx[s]
		g := market.Gap{Stream: s, From: w.From.Add(-gapMargin), To: w.To.Add(gapMargin),
			Reason: market.GapSpoolCorrupt, Detected: b.cfg.Now().UTC()}
		b.corruptGaps.Add(1)
		b.log.Warn("spool: records damaged on disk; gap recorded", zap.Int("segment", no), zap.Stringer("gap", g))
		if b.cfg.Gaps != nil {
			b.cfg.Gaps.RecordGap(g)
		}
	}
}

package supervisor

import (
	"testing"

	"github.com/shopspring/decimal"

	"marketetl/collector"
)

// TestBookReportAcrossRuns: a book stream's counters are summed over runs,
// its state is the current run's, and the report spells every reason.
func TestBookReportAcrossRuns(t *testing.T) {
	prev := &collector.BookStatus{Synced: true, Sequence: 7, BidLevels: 3, AskLevels: 3, Spread: decimal.RequireFromString("0.5"),
		Resyncs: map[string]uint64{"sequence_break": 2}, SequenceBreaks: 2, Snapshots: 10}
	cur := &collector.BookStatus{Synced: true, Sequence: 90, BidLevels: 20, AskLevels: 19, Spread: decimal.RequireFromString("0.10"),
		Resyncs: map[string]uint64{"checksum_mismatch": 1, "sequence_break": 1}, SequenceBreaks: 1, ChecksumFailures: 1, Snapshots: 4}
	r := bookReport(mergeBook(prev, cur))
	if !r.Synced || r.Sequence != 90 || r.BidLevels != 20 || r.AskLevels != 19 || r.Spread != "0.1" ||
		r.SequenceBreaks != 3 || r.ChecksumFailures != 1 || r.Snapshots != 14 {
		t.Fatalf("report %+v", r)
	}
	want := map[string]uint64{"sequence_break": 3, "checksum_mismatch": 1, "invalid_book": 0, "drift": 0, "reconnect": 0}
	if len(r.Resyncs) != len(want) {
		t.Fatalf("resyncs %v, want %v", r.Resyncs, want)
	}
	for k, v := range want {
		if r.Resyncs[k] != v {
			t.Errorf("resyncs[%s] = %d, want %d", k, r.Resyncs[k], v)
		}
	}
	if prev.Resyncs["sequence_break"] != 2 || cur.Resyncs["sequence_break"] != 1 {
		t.Error("merging changed its inputs")
	}
	ended := bookReport(mergeBook(prev, nil))
	if ended.Synced || ended.BidLevels != 0 || ended.Spread != "" || ended.SequenceBreaks != 2 {
		t.Errorf("after the run ended: %+v", ended)
	}
	if bookReport(nil) != nil {
		t.Error("a stream without a book has a book report")
	}
}

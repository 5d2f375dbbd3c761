package spool

import (
	"slices"
	"testing"

	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

// TestReplayValidatesAgain: replayed records pass through the validator
// like every other input; one it refuses becomes a reject with its reason
// and never reaches its table.
func TestReplayValidatesAgain(t *testing.T) {
	dir := t.TempDir()
	sp := openSpool(t, Config{Dir: dir})
	for i := range 5 {
		rec := trade(i)
		if i == 1 || i == 3 {
			rec.Side = "sideways" // as a tampered or damaged-but-checksummed file might hold
		}
		if err := sp.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	w := &listWriter{}
	validate := func(rec market.Record) (market.Reject, bool) {
		tr := rec.(*market.Trade)
		if tr.Side == market.Buy || tr.Side == market.Sell {
			return market.Reject{}, false
		}
		return market.Reject{Exchange: tr.Exchange, Symbol: tr.Symbol, Type: tr.DataType(), Reason: "bad_side", Field: "side",
			Detail: string(tr.Side), Raw: []byte(tr.TradeID)}, true
	}
	b, err := NewBuffer(BufferConfig{Validate: validate}, sp, w, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	no, ok, err := b.next()
	if err != nil || !ok {
		t.Fatalf("segment: %d, %t, %v", no, ok, err)
	}
	if err := b.replaySegment(t.Context(), no); err != nil {
		t.Fatal(err)
	}
	if want := []string{trade(0).TradeID, trade(2).TradeID, trade(4).TradeID}; !slices.Equal(w.ids, want) {
		t.Errorf("stored %v, want %v", w.ids, want)
	}
	if len(w.rejects) != 2 || w.rejects[0].Reason != "bad_side" || string(w.rejects[0].Raw) != trade(1).TradeID ||
		string(w.rejects[1].Raw) != trade(3).TradeID {
		t.Errorf("rejects %+v, want trades 1 and 3 with reason bad_side", w.rejects)
	}
	if st := b.Stats(); st.ReplayRejected != 2 || st.Replayed != 5 {
		t.Errorf("stats %+v: want 2 replay rejects of 5 replayed", st)
	}
}

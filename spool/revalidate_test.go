package spool

import (
	"reflect"
	"slices"
	"testing"
	"time"

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

// TestSpilledRejectsReplayToRejects: a reject the writer spilled at
// shutdown is kept in the spool, field for field, and the replay hands it
// back to the writer's rejects (not validated, not indexed as a stream).
func TestSpilledRejectsReplayToRejects(t *testing.T) {
	dir := t.TempDir()
	sp := openSpool(t, Config{Dir: dir})
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	rejects := []market.Reject{
		{Received: at, Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade, Reason: "bad_side", Field: "side",
			Detail: "side \"x\"", Raw: []byte(`{"side":"x"}`)},
		{Received: at.Add(time.Second), Exchange: market.Binance, Reason: "decode_error", Raw: []byte{}},
		{Received: at.Add(2 * time.Second), Exchange: market.Coinbase, Reason: "unstorable_value"},
	}
	if err := sp.Append(trade(0)); err != nil {
		t.Fatal(err)
	}
	for _, r := range rejects {
		if err := sp.AppendReject(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	b, w, gaps := replayOneAfter(t, dir, func() {
		idx, err := openIndex(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(idx) != 1 {
			t.Errorf("index %v: want only the trade's stream", idx)
		}
	})
	if !reflect.DeepEqual(w.rejects, rejects) {
		t.Errorf("rejects replayed\n got %+v\nwant %+v", w.rejects, rejects)
	}
	if !slices.Equal(w.ids, []string{trade(0).TradeID}) || len(gaps) != 0 || b.Stats().Replayed != 4 {
		t.Errorf("stored %v, gaps %v, stats %+v: want the trade, no gap, 4 replayed", w.ids, gaps, b.Stats())
	}
}

// openIndex reads the index of segment 1 in dir.
func openIndex(t *testing.T, dir string) (segIndex, error) {
	t.Helper()
	s := &Spool{cfg: Config{Dir: dir}}
	return s.readIndex(1)
}

package binance

import (
	"testing"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
	"marketetl/market"
)

// FuzzDecode feeds Decode arbitrary frames, seeded with every frame in
// testdata. Decode must never panic; an error must be a *DecodeError with a
// reason; without an error, every record must be well-formed.
func FuzzDecode(f *testing.F) {
	adaptertest.Seeds(f, "testdata", ".json")
	a := newTestAdapter(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		var ev collector.Event
		err := a.Decode(frame, received, &ev)
		if p := adaptertest.DecodeProblem(market.Binance, received, &ev, err); p != "" {
			t.Fatalf("%s (frame %q)", p, frame)
		}
		decode := func(b []byte, ev *collector.Event) error { return a.Decode(b, received, ev) }
		if p := adaptertest.AliasProblem(decode, frame); p != "" {
			t.Fatalf("%s (frame %q)", p, frame)
		}
		for _, r := range ev.Records {
			if problem := recordProblem(r); problem != "" {
				t.Fatalf("record %s: %s (frame %q)", render(r), problem, frame)
			}
		}
	})
}

// recordProblem says what is wrong with the shape of a decoded record,
// beyond adaptertest.DecodeProblem's checks, or "".
func recordProblem(r market.Record) string {
	switch r := r.(type) {
	case *market.Trade:
		if r.TradeID == "" || (r.Side != market.Buy && r.Side != market.Sell) {
			return "trade id or side"
		}
	case *market.Candle:
		if !r.Timeframe.Known() || r.Trades < 0 || !r.QuoteVolume.Valid {
			return "timeframe, trades or quote volume"
		}
	case *market.Ticker:
		for _, d := range []bool{r.Last.Valid, r.Bid.Valid, r.Ask.Valid, r.BidSize.Valid, r.AskSize.Valid,
			r.Open24h.Valid, r.High24h.Valid, r.Low24h.Valid, r.Volume24h.Valid, r.QuoteVolume24h.Valid} {
			if !d {
				return "missing ticker field"
			}
		}
	default:
		return "unexpected record type"
	}
	return ""
}

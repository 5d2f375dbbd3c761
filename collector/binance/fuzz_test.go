package binance

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"marketetl/collector"
	"marketetl/market"
)

// FuzzDecode feeds Decode arbitrary frames, seeded with every frame in
// testdata. Decode must never panic; an error must be a *DecodeError with a
// reason; without an error, every record must be well-formed.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no seed frames in testdata")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	a := newTestAdapter(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		var ev collector.Event
		err := a.Decode(frame, received, &ev)
		if err != nil {
			var de *collector.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if de.Reason == "" || de.Stream.Exchange != market.Binance {
				t.Fatalf("decode error without reason or exchange: %+v", de)
			}
			return
		}
		for _, r := range ev.Records {
			if problem := recordProblem(r); problem != "" {
				t.Fatalf("record %s: %s (frame %q)", render(r), problem, frame)
			}
		}
		if ev.Err != nil && ev.Err.Exchange != market.Binance {
			t.Fatalf("exchange error from %q", ev.Err.Exchange)
		}
	})
}

// recordProblem says what is wrong with the shape of a decoded record, or "".
func recordProblem(r market.Record) string {
	h := r.Header()
	switch {
	case h.Exchange != market.Binance:
		return "exchange"
	case h.Symbol.Check() != nil:
		return "symbol"
	case h.Time.IsZero() || h.Time.Location() != nil && h.Time.Location().String() != "UTC":
		return "time"
	case !h.Received.Equal(received):
		return "received"
	}
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
	if r.Stream().Check() != nil {
		return "stream"
	}
	return ""
}

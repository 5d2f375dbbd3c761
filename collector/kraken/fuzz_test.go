package kraken

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
	"marketetl/market"
)

// FuzzDecode checks that Decode never panics, that its errors are
// DecodeErrors of this exchange, and that decoded records are well formed.
func FuzzDecode(f *testing.F) {
	adaptertest.Seeds(f, "testdata", ".json")
	a, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var ev collector.Event
		err := a.Decode(frame, received, &ev)
		if p := adaptertest.DecodeProblem(market.Kraken, received, &ev, err); p != "" {
			t.Fatalf("%s (frame %q)", p, frame)
		}
		decode := func(b []byte, ev *collector.Event) error { return a.Decode(b, received, ev) }
		if p := adaptertest.AliasProblem(decode, frame); p != "" {
			t.Fatalf("%s (frame %q)", p, frame)
		}
		for _, r := range ev.Records {
			if shapeErr := checkShape(r); shapeErr != nil {
				t.Fatalf("record %s: %v", render(r), shapeErr)
			}
		}
	})
}

// FuzzRESTBody checks that reading REST rows never panics and that rows
// read are well formed.
func FuzzRESTBody(f *testing.F) {
	adaptertest.Seeds(f, "testdata", ".json")
	f.Fuzz(func(t *testing.T, body []byte) {
		var trades [][]json.RawMessage
		if decodeStrict(body, &trades) == nil {
			for _, row := range trades {
				if tr, err := tradeRow(row); err == nil && (tr.TradeID == "" || tr.Time.Location() != time.UTC) {
					t.Fatalf("trade row %s read as %+v", row, tr)
				}
			}
		}
		var candles [][]json.Number
		if decodeStrict(body, &candles) == nil {
			for _, row := range candles {
				_, _ = candleRow(row)
			}
		}
	})
}

// checkShape reports why a decoded record is not well formed, beyond
// adaptertest.DecodeProblem's checks.
func checkShape(r market.Record) error {
	switch v := r.(type) {
	case *market.Trade:
		if _, ok := v.NumericID(); !ok || v.Side != market.Buy && v.Side != market.Sell {
			return errors.New("trade without a numeric id or side")
		}
	case *market.Candle:
		if !v.Timeframe.Known() || v.Closed || !v.Timeframe.Truncate(v.Time).Equal(v.Time) {
			return errors.New("candle without a known timeframe, off its boundary, or closed")
		}
	case *market.Ticker:
	default:
		return errors.New("unexpected record type")
	}
	return nil
}

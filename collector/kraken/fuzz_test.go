package kraken

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

// addTestdata adds every file under testdata/ to the seed corpus.
func addTestdata(f *testing.F) {
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(b)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

// FuzzDecode checks that Decode never panics, that its errors are
// DecodeErrors of this exchange, and that decoded records are well formed.
func FuzzDecode(f *testing.F) {
	addTestdata(f)
	a, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var ev collector.Event
		err := a.Decode(frame, received, &ev)
		if err != nil {
			var de *collector.DecodeError
			if !errors.As(err, &de) || de.Reason == "" || de.Stream.Exchange != market.Kraken {
				t.Fatalf("error %v (%T) is not a DecodeError with a reason and the exchange", err, err)
			}
		}
		for _, r := range ev.Records {
			if shapeErr := checkShape(r); shapeErr != nil {
				t.Fatalf("record %s: %v", render(r), shapeErr)
			}
		}
		for _, s := range ev.Acked {
			if s.Check() != nil || s.Exchange != market.Kraken {
				t.Fatalf("acked stream %+v is not well formed", s)
			}
		}
		if ev.Err != nil && (ev.Err.Exchange != market.Kraken || ev.Err.Stream.Symbol != "" && ev.Err.Stream.Symbol.Check() != nil) {
			t.Fatalf("exchange error %+v is not well formed", ev.Err)
		}
	})
}

// FuzzRESTBody checks that reading REST rows never panics and that rows
// read are well formed.
func FuzzRESTBody(f *testing.F) {
	addTestdata(f)
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

// checkShape reports why a decoded record is not well formed.
func checkShape(r market.Record) error {
	h := r.Header()
	switch {
	case h.Exchange != market.Kraken:
		return errors.New("exchange is not kraken")
	case h.Symbol.Check() != nil:
		return h.Symbol.Check()
	case h.Time.IsZero() || h.Time.Location() != time.UTC:
		return errors.New("time is zero or not UTC")
	case !h.Received.Equal(received):
		return errors.New("received is not the time passed to Decode")
	}
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

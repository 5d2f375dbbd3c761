package okx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// addTestdata adds every file under testdata/ to the seed corpus.
func addTestdata(f *testing.F) {
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
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
// DecodeErrors, and that a frame decoded without error yields only
// well-formed records and events.
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
			if !errors.As(err, &de) || de.Reason == "" || de.Stream.Exchange != market.OKX {
				t.Fatalf("error %v (%T) is not a DecodeError with a reason and the exchange", err, err)
			}
		}
		for _, r := range ev.Records {
			if shapeErr := checkShape(r); shapeErr != nil {
				t.Fatalf("record %s: %v", render(r), shapeErr)
			}
		}
		for _, s := range ev.Acked {
			if s.Check() != nil || s.Exchange != market.OKX {
				t.Fatalf("acked stream %+v is not well formed", s)
			}
		}
		if ev.Err != nil && (ev.Err.Exchange != market.OKX || ev.Err.Stream.Symbol != "" && ev.Err.Stream.Check() != nil) {
			t.Fatalf("exchange error %+v is not well formed", ev.Err)
		}
		if err == nil && len(ev.Records) == 0 && len(ev.Acked) == 0 && ev.Err == nil && !ev.Pong && !ev.Reconnect && !ev.Ignored {
			// A frame of pushed data with an empty data array is the one
			// way to succeed with nothing to report.
			var probe collector.Event
			if a.Decode(frame, received, &probe) != nil {
				t.Fatal("Decode is not deterministic")
			}
		}
	})
}

// FuzzRESTBody checks that reading REST bodies never panics.
func FuzzRESTBody(f *testing.F) {
	addTestdata(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, _ = envelope(body)
		_ = readData(body, func(s *wire.Scanner) error {
			var c market.Candle
			_, err := readCandle(s, &c)
			return err
		})
		_ = readData(body, func(s *wire.Scanner) error {
			var tr market.Trade
			return readTrade(s, "BTC-USDT", &tr)
		})
	})
}

// checkShape reports why a decoded record is not well formed.
func checkShape(r market.Record) error {
	h := r.Header()
	switch {
	case h.Exchange != market.OKX:
		return errors.New("exchange is not okx")
	case h.Symbol.Check() != nil:
		return h.Symbol.Check()
	case h.Time.IsZero() || h.Time.Location() != time.UTC:
		return errors.New("time is zero or not UTC")
	case !h.Received.Equal(received):
		return errors.New("received is not the time passed to Decode")
	}
	switch v := r.(type) {
	case *market.Trade:
		if v.TradeID == "" || v.Side != market.Buy && v.Side != market.Sell {
			return errors.New("trade without id or side")
		}
	case *market.Candle:
		if !v.Timeframe.Known() || v.Trades != -1 {
			return errors.New("candle without a known timeframe or with a trade count")
		}
	case *market.Ticker:
	default:
		return errors.New("unexpected record type")
	}
	return nil
}

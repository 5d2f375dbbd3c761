package okx

import (
	"errors"
	"testing"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
	"marketetl/collector/wire"
	"marketetl/market"
)

// FuzzDecode checks that Decode never panics, that its errors are
// DecodeErrors, and that a frame decoded without error yields only
// well-formed records and events.
func FuzzDecode(f *testing.F) {
	adaptertest.Seeds(f, "testdata")
	a, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var ev collector.Event
		err := a.Decode(frame, received, &ev)
		if p := adaptertest.DecodeProblem(market.OKX, received, &ev, err); p != "" {
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
	adaptertest.Seeds(f, "testdata")
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, _ = envelope(body)
		_ = readData(body, func(s *wire.Scanner) error {
			var c market.Candle
			_, err := readCandle(s, nil, &c)
			return err
		})
		_ = readData(body, func(s *wire.Scanner) error {
			var tr market.Trade
			return readTrade(s, nil, "BTC-USDT", &tr)
		})
	})
}

// checkShape reports why a decoded record is not well formed, beyond
// adaptertest.DecodeProblem's checks.
func checkShape(r market.Record) error {
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

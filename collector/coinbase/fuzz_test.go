package coinbase

import (
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
	"marketetl/collector/wire"
	"marketetl/market"
)

// FuzzDecode feeds Decode arbitrary frames, seeded with every file in
// testdata. Decode must never panic; an error must be a *DecodeError with a
// reason; without an error, every record must be well-formed, and so must
// the heartbeat, acknowledgements and exchange error.
func FuzzDecode(f *testing.F) {
	adaptertest.Seeds(f, "testdata")
	a := newTestAdapter(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		var ev collector.Event
		err := a.Decode(frame, received, &ev)
		if p := adaptertest.DecodeProblem(market.Coinbase, received, &ev, err); p != "" {
			t.Fatalf("%s (frame %q)", p, frame)
		}
		decode := func(b []byte, ev *collector.Event) error { return a.Decode(b, received, ev) }
		if p := adaptertest.AliasProblem(decode, frame); p != "" {
			t.Fatalf("%s (frame %q)", p, frame)
		}
		if err != nil {
			return
		}
		if problem := eventProblem(&ev); problem != "" {
			t.Fatalf("%s (frame %q)", problem, frame)
		}
	})
}

// eventProblem says what is wrong with an event decoded without error, or "".
func eventProblem(ev *collector.Event) string {
	parts := 0
	if len(ev.Records) > 0 {
		parts++
	}
	if ev.Heartbeat {
		parts++
	}
	if ev.Err != nil {
		parts++
	}
	if ev.Ignored {
		parts++
	}
	if len(ev.Acked) > 0 {
		parts++
	}
	if parts > 1 {
		return "event is several things at once"
	}
	if len(ev.Records) > 1 {
		return "more than one record from one message"
	}
	for _, r := range ev.Records {
		if p := recordProblem(r); p != "" {
			return "record " + render(r) + ": " + p
		}
	}
	if ev.Heartbeat {
		if ev.HeartbeatTime.IsZero() || ev.HeartbeatTime.Location() != time.UTC {
			return "heartbeat time"
		}
		if ev.HeartbeatStream.Check() != nil || ev.HeartbeatStream.Type != market.TypeTrade || ev.HeartbeatStream.Exchange != market.Coinbase {
			return "heartbeat stream " + ev.HeartbeatStream.String()
		}
	}
	for _, s := range ev.Acked {
		if s.Check() != nil || s.Exchange != market.Coinbase || s.Type == market.TypeCandle {
			return "acked stream " + s.String()
		}
	}
	if e := ev.Err; e != nil {
		if e.Exchange != market.Coinbase || e.Message == "" || e.Stream.Exchange != market.Coinbase {
			return "exchange error " + e.Error()
		}
		if e.Stream.Symbol != "" && e.Stream.Symbol.Check() != nil {
			return "exchange error symbol " + string(e.Stream.Symbol)
		}
	}
	return ""
}

// recordProblem says what is wrong with the shape of a decoded record, or "".
func recordProblem(r market.Record) string {
	h := r.Header()
	switch {
	case h.Exchange != market.Coinbase:
		return "exchange"
	case h.Symbol.Check() != nil:
		return "symbol"
	case h.Time.IsZero() || h.Time.Location() != time.UTC || h.Time.Before(minTime):
		return "time"
	case !h.Received.Equal(received):
		return "received"
	case r.Stream().Check() != nil:
		return "stream"
	}
	switch r := r.(type) {
	case *market.Trade:
		if r.TradeID == "" || (r.Side != market.Buy && r.Side != market.Sell) {
			return "trade id or side"
		}
		if _, err := wire.ParseCount([]byte(r.TradeID)); err != nil {
			return "trade id not numeric"
		}
	case *market.Ticker:
		if !r.Last.Valid || r.QuoteVolume24h.Valid {
			return "ticker last or quote volume"
		}
	default:
		return "unexpected record type"
	}
	return ""
}

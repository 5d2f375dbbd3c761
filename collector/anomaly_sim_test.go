package collector_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/collector/okx"
	"marketetl/market"
	"marketetl/sim"
)

// TestProtocolAnomaliesRaiseAnAlarmNotAReconnect runs the OKX adapter
// against the simulated exchange with two symbols, one of which the
// exchange does not list: that stream is refused in status with the
// exchange's code and message, the other keeps flowing, and nothing is
// redialled. A message of a type the adapter does not know is counted as
// an anomaly and the stream carries on, and so are a known message with a
// field missing and an error whose code the adapter does not know.
func TestProtocolAnomaliesRaiseAnAlarmNotAReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	s, ep := listenSim(t, ctx, sim.Config{Seed: 5, Start: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, log)
	proto, err := okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST})
	if err != nil {
		t.Fatal(err)
	}
	good := market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade}
	bad := market.Stream{Exchange: market.OKX, Symbol: "NOPE-USDT", Type: market.TypeTrade}
	got := &records{}
	col, err := collector.New(collector.Config{Name: "anomalies", Streams: []market.Stream{good, bad}, Log: log, Gaps: got,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, proto, got)
	if err != nil {
		t.Fatal(err)
	}
	defer runWithSim(t, ctx, cancel, s, col)()
	if err := s.WaitSubscribed(ctx, good); err != nil {
		t.Fatal(err)
	}
	waitStatus := func(what string, cond func(collector.Status) bool) collector.Status {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st := col.Status()
			if cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, st)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
		}
	}
	st := waitStatus("the refusal", func(st collector.Status) bool { return st.Streams[bad.String()].Refused })
	if ss := st.Streams[bad.String()]; ss.RefusedCode != "60018" || ss.RefusedMessage == "" {
		t.Errorf("refused stream %+v, want code 60018 and the exchange's message", ss)
	}
	if n := st.Anomalies[collector.AnomalySubscriptionRefused]; n != 1 {
		t.Errorf("%d subscription_refused anomalies, want 1", n)
	}
	if n := s.SendRaw(market.OKX, []byte(`{"event":"brand-new","arg":{"channel":"trades","instId":"BTC-USDT"}}`)); n < 1 {
		t.Fatalf("raw frame sent on %d connections", n)
	}
	st = waitStatus("the unknown message counted", func(st collector.Status) bool { return st.Anomalies[collector.AnomalyUnknownMessage] == 1 })
	sent := s.SendRaw(market.OKX, []byte(`{"event":"error","code":"60099","msg":"A rule this client does not know yet","connId":"a4d3ae55"}`))
	if sent < 1 {
		t.Fatalf("raw frame sent on %d connections", sent)
	}
	st = waitStatus("the unknown error code counted", func(st collector.Status) bool {
		return st.Anomalies[collector.AnomalyUnknownErrorCode] == uint64(sent)
	})
	// A known message with a field missing: the trade without its ts.
	badField := s.SendRaw(market.OKX, []byte(`{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","count":"1"}]}`))
	if badField < 1 {
		t.Fatalf("raw frame sent on %d connections", badField)
	}
	st = waitStatus("the missing field counted", func(st collector.Status) bool {
		return st.Anomalies[collector.AnomalyBadField] == uint64(badField)
	})
	if err := s.Step(ctx, 5); err != nil {
		t.Fatal(err)
	}
	st = waitStatus("5 trades after the anomaly", func(st collector.Status) bool { return st.Streams[good.String()].Records == 5 })
	if st.Reconnects != 0 || s.Counts(market.OKX).Connects != 1 {
		t.Errorf("%d redials, %d connects: want none and 1 (no reconnect loop)", st.Reconnects, s.Counts(market.OKX).Connects)
	}
	if n := st.Anomalies[collector.AnomalyUnknownErrorCode]; n != uint64(sent) {
		t.Errorf("%d unknown_error_code anomalies, want one per connection the frame was sent on (%d)", n, sent)
	}
	if ss := st.Streams[good.String()]; ss.Refused {
		t.Errorf("the listed symbol is marked refused: %+v", ss)
	}
}

package adaptertest

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/market"
)

var received = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func trade(mod func(*market.Trade)) *market.Trade {
	tr := &market.Trade{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Time: received.Add(-time.Second), Received: received},
		TradeID: "1", Price: decimal.RequireFromString("100.10"), Size: decimal.RequireFromString("1"), Side: market.Buy}
	if mod != nil {
		mod(tr)
	}
	return tr
}

// Each thing DecodeProblem must catch, and a well-formed event it must not.
func TestDecodeProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   collector.Event
		err  error
		want string // a part of the problem; "" for none
	}{
		{"well formed", collector.Event{Records: []market.Record{trade(nil)}}, nil, ""},
		{"other exchange", collector.Event{Records: []market.Record{trade(func(tr *market.Trade) { tr.Exchange = market.Binance })}}, nil, "exchange"},
		{"bad symbol", collector.Event{Records: []market.Record{trade(func(tr *market.Trade) { tr.Symbol = "btc usdt" })}}, nil, "symbol"},
		{"time not UTC", collector.Event{Records: []market.Record{trade(func(tr *market.Trade) { tr.Time = tr.Time.In(time.FixedZone("x", 3600)) })}}, nil, "UTC"},
		{"zero time", collector.Event{Records: []market.Record{trade(func(tr *market.Trade) { tr.Time = time.Time{} })}}, nil, "zero"},
		{"received changed", collector.Event{Records: []market.Record{trade(func(tr *market.Trade) { tr.Received = received.Add(1) })}}, nil, "received"},
		{"acked of another exchange", collector.Event{Acked: []market.Stream{{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade}}}, nil, "acked"},
		{"exchange error of another exchange", collector.Event{Err: &collector.ExchangeError{Exchange: market.Binance}}, nil, "exchange error"},
		{"plain error", collector.Event{}, errPlain{}, "not a *collector.DecodeError"},
		{"decode error without reason", collector.Event{}, &collector.DecodeError{Stream: market.Stream{Exchange: market.OKX}}, "without a reason"},
		{"decode error", collector.Event{}, &collector.DecodeError{Reason: "bad_json", Stream: market.Stream{Exchange: market.OKX}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DecodeProblem(market.OKX, received, &tc.ev, tc.err)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("DecodeProblem = %q, want %q", got, tc.want)
			}
		})
	}
}

type errPlain struct{}

func (errPlain) Error() string { return "plain" }

func TestRenderKeepsDigits(t *testing.T) {
	got := Render(trade(nil), received)
	want := "trade okx BTC-USDT t=2026-07-01T11:59:59Z id=1 p=100.10 q=1 buy"
	if got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

package kraken

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"marketetl/collector"
	"marketetl/market"
)

// want is the expected outcome of decoding one golden frame.
type want struct {
	records []string
	reason  string // DecodeError reason, "" for none
	field   string
	acked   []market.Stream
	errMsg  string // ExchangeError message
	perm    bool
	pong    bool
	hb      bool
	ignored bool
}

const matic = "kraken MATIC-USD"

var golden = map[string]want{
	"trade.json":          {records: []string{"trade " + matic + " t=2023-09-25T07:49:37.708706Z id=4665906 p=0.5117 q=40.0 sell"}},
	"trade_pretty.json":   {records: []string{"trade " + matic + " t=2023-09-25T07:49:37.708706Z id=4665906 p=0.5117 q=40.0 sell"}},
	"trade_snapshot.json": {records: []string{"trade " + matic + " t=2023-09-25T07:49:37.708706Z id=4665906 p=0.5117 q=40.0 sell"}},
	"trade_several.json": {records: []string{
		"trade " + matic + " t=2023-09-25T07:48:36.925533Z id=4665846 p=0.5147 q=6423.46326 buy",
		"trade " + matic + " t=2023-09-25T07:49:36.925603Z id=4665847 p=0.5147 q=1136.19677815 buy",
	}},
	"price_exponent.json": {records: []string{"trade " + matic + " t=2023-09-25T07:49:37.708706Z id=4665906 p=0.5117 q=40 sell"}},
	"ticker.json":         {records: []string{"ticker kraken ALGO-USD t=2023-09-25T09:04:31.742648Z last=0.10035 bid=0.10025x740.0 ask=0.10035x740.0 o=0.10052 h=0.10285 l=0.09979 v=997038.98383185 qv=-"}},
	"ticker_no_last.json": {records: []string{"ticker kraken ALGO-USD t=2023-09-25T09:04:31.742648Z last=- bid=0.10025x740.0 ask=0.10035x740.0 o=- h=0.0 l=0.0 v=0.0 qv=-"}},
	"ohlc.json":           {records: []string{"candle " + matic + " t=2023-10-04T16:25:00Z 5m o=0.5624 h=0.5628 l=0.5622 c=0.5627 v=30927.68066226 qv=- n=12 closed=false"}},
	"ohlc_snapshot.json": {records: []string{
		"candle " + matic + " t=2023-10-04T16:25:00Z 5m o=0.5624 h=0.5628 l=0.5622 c=0.5627 v=30927.68066226 qv=- n=12 closed=false",
		"candle " + matic + " t=2023-10-04T16:30:00Z 5m o=0.5627 h=0.5627 l=0.5627 c=0.5627 v=10.0 qv=- n=1 closed=false",
	}},
	// websocket-v2/ohlc "Example: Snapshot", verbatim.
	"ohlc_snapshot_doc.json": {records: []string{
		"candle kraken ALGO-USD t=2023-10-04T15:25:00Z 5m o=0.09875 h=0.09875 l=0.09875 c=0.09875 v=201.86015 qv=- n=1 closed=false",
		"candle kraken ALGO-USD t=2023-10-04T15:30:00Z 5m o=0.09875 h=0.0988 l=0.09875 c=0.09875 v=16255.46368 qv=- n=13 closed=false",
	}},
	// The ohlc schema types trades as float: a whole number written 12.0 is 12.
	"ohlc_trades_float.json":        {records: []string{"candle " + matic + " t=2023-10-04T16:25:00Z 5m o=0.5624 h=0.5628 l=0.5622 c=0.5627 v=30927.68066226 qv=- n=12 closed=false"}},
	"bad_ohlc_trades_fraction.json": {reason: collector.ReasonBadNumber, field: "data.trades"},
	"status.json":                   {ignored: true},
	"heartbeat.json":                {hb: true},
	"pong.json":                     {pong: true},
	"ack_trade.json":                {acked: []market.Stream{{Exchange: market.Kraken, Symbol: "BTC-USD", Type: market.TypeTrade}}},
	"ack_ohlc.json":                 {acked: []market.Stream{{Exchange: market.Kraken, Symbol: "MATIC-USD", Type: market.TypeCandle, Timeframe: market.TF5m}}},
	"ack_unsubscribe.json":          {ignored: true},
	"ack_book.json":                 {reason: collector.ReasonUnknownChannel, field: "result.channel"},
	"error_pair.json":               {errMsg: "Currency pair not supported XBT/EUR", perm: true},
	"error_rate.json":               {errMsg: "Exceeded msg rate"},
	"book.json":                     {reason: collector.ReasonUnknownChannel, field: "channel"},

	"bad_truncated.json":         {reason: collector.ReasonMalformedJSON},
	"bad_not_object.json":        {reason: ReasonUnknownMessage},
	"bad_trailing_data.json":     {reason: collector.ReasonMalformedJSON},
	"bad_price_string.json":      {reason: collector.ReasonBadNumber, field: "data.price"},
	"bad_price_nan.json":         {reason: collector.ReasonMalformedJSON},
	"bad_missing_qty.json":       {reason: collector.ReasonBadField, field: "data.qty"},
	"bad_side.json":              {reason: collector.ReasonBadField, field: "data.side"},
	"bad_timestamp.json":         {reason: collector.ReasonBadTimestamp, field: "data.timestamp"},
	"bad_trade_id_fraction.json": {reason: collector.ReasonBadNumber, field: "data.trade_id"},
	"bad_symbol.json":            {reason: collector.ReasonUnknownSymbol, field: "data.symbol"},
	"bad_ohlc_interval.json":     {reason: collector.ReasonBadField, field: "data.interval"},
	"bad_ohlc_begin.json":        {reason: collector.ReasonBadTimestamp, field: "data.interval_begin"},
	"bad_type.json":              {reason: collector.ReasonBadField, field: "type"},
	"bad_method.json":            {reason: ReasonUnknownMethod, field: "method"},
	"bad_unknown_message.json":   {reason: ReasonUnknownMessage},
}

func TestDecodeGoldenFrames(t *testing.T) {
	a := newTestAdapter(t)
	for name, w := range golden {
		t.Run(name, func(t *testing.T) {
			var ev collector.Event
			err := a.Decode(readFile(t, name), received, &ev)
			var de *collector.DecodeError
			switch {
			case w.reason == "" && err != nil:
				t.Fatalf("Decode: %v", err)
			case w.reason != "":
				if !errors.As(err, &de) {
					t.Fatalf("Decode = %v, want DecodeError %s", err, w.reason)
				}
				if de.Reason != w.reason || de.Field != w.field || de.Stream.Exchange != market.Kraken {
					t.Fatalf("DecodeError = %s field %q (%v), want %s field %q", de.Reason, de.Field, de, w.reason, w.field)
				}
			}
			var got []string
			for _, r := range ev.Records {
				got = append(got, render(r))
			}
			if !slices.Equal(got, w.records) {
				t.Errorf("records:\n got %q\nwant %q", got, w.records)
			}
			if !slices.Equal(ev.Acked, w.acked) {
				t.Errorf("Acked = %v, want %v", ev.Acked, w.acked)
			}
			if ev.Pong != w.pong || ev.Heartbeat != w.hb || ev.Ignored != w.ignored {
				t.Errorf("pong/heartbeat/ignored = %t/%t/%t, want %t/%t/%t", ev.Pong, ev.Heartbeat, ev.Ignored, w.pong, w.hb, w.ignored)
			}
			switch {
			case w.errMsg == "" && ev.Err != nil:
				t.Errorf("Err = %v, want none", ev.Err)
			case w.errMsg != "":
				if ev.Err == nil || ev.Err.Message != w.errMsg || ev.Err.Permanent != w.perm || ev.Err.Exchange != market.Kraken {
					t.Errorf("Err = %+v, want message %q permanent %t", ev.Err, w.errMsg, w.perm)
				}
			}
		})
	}
}

// TestEveryGoldenFileUsed keeps testdata and the table in step.
func TestEveryGoldenFileUsed(t *testing.T) {
	ents, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if _, ok := golden[e.Name()]; !ok {
			t.Errorf("testdata/%s has no expectation in golden", e.Name())
		}
	}
}

// TestDecodeKeepsRecordsBeforeAFault: an element at fault keeps the
// records before it.
func TestDecodeKeepsRecordsBeforeAFault(t *testing.T) {
	a := newTestAdapter(t)
	frame := []byte(`{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1.5,"qty":2,"ord_type":"limit","trade_id":7,"timestamp":"2024-01-02T03:04:05.000001Z"},{"symbol":"BTC/USD","side":"up","price":1,"qty":1,"trade_id":8,"timestamp":"2024-01-02T03:04:05Z"}]}`)
	var ev collector.Event
	err := a.Decode(frame, received, &ev)
	var de *collector.DecodeError
	if !errors.As(err, &de) || de.Reason != collector.ReasonBadField || de.Field != "data.side" {
		t.Fatalf("Decode = %v, want bad_field data.side", err)
	}
	if len(ev.Records) != 1 || render(ev.Records[0]) != "trade kraken BTC-USD t=2024-01-02T03:04:05.000001Z id=7 p=1.5 q=2 buy" {
		t.Fatalf("records = %v", ev.Records)
	}
}

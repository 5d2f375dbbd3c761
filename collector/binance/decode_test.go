package binance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
	"marketetl/market"
)

// received is the arrival time passed to Decode in the tests.
var received = time.UnixMilli(1672515782500).UTC()

var (
	exact     = adaptertest.Exact
	exactNull = adaptertest.ExactNull
)

// ms writes t as milliseconds, flagging a time that is not in UTC.
func ms(t time.Time) string {
	s := fmt.Sprint(t.UnixMilli())
	if t.Location() != time.UTC {
		s += "(not UTC)"
	}
	return s
}

// render writes a record on one line, every field included.
func render(r market.Record) string {
	h := r.Header()
	head := fmt.Sprintf("%s %s t=%s rcv=%s", h.Exchange, h.Symbol, ms(h.Time), ms(h.Received))
	switch r := r.(type) {
	case *market.Trade:
		return fmt.Sprintf("trade %s id=%s p=%s q=%s %s", head, r.TradeID, exact(r.Price), exact(r.Size), r.Side)
	case *market.Candle:
		return fmt.Sprintf("candle %s %s o=%s h=%s l=%s c=%s v=%s qv=%s n=%d closed=%t", head, r.Timeframe,
			exact(r.Open), exact(r.High), exact(r.Low), exact(r.Close), exact(r.Volume), exactNull(r.QuoteVolume), r.Trades, r.Closed)
	case *market.Ticker:
		return fmt.Sprintf("ticker %s last=%s bid=%sx%s ask=%sx%s o=%s h=%s l=%s v=%s qv=%s", head,
			exactNull(r.Last), exactNull(r.Bid), exactNull(r.BidSize), exactNull(r.Ask), exactNull(r.AskSize),
			exactNull(r.Open24h), exactNull(r.High24h), exactNull(r.Low24h), exactNull(r.Volume24h), exactNull(r.QuoteVolume24h))
	}
	return fmt.Sprintf("unexpected %T", r)
}

// outcome is what a test expects of one frame.
type outcome struct {
	records   []string
	ackID     uint64
	exchErr   string // "code|message|permanent"
	reconnect bool
	ignored   bool
	// reason, field and stream describe the expected DecodeError.
	reason, field, stream string
}

func TestDecodeGolden(t *testing.T) {
	const (
		trade     = "trade binance BNB-BTC t=1672515782136 rcv=1672515782500 id=12345 p=0.001 q=100 sell"
		kline     = "candle binance BNB-BTC t=1672515780000 rcv=1672515782500 1m o=0.0010 h=0.0025 l=0.0015 c=0.0020 v=1000 qv=1.0000 n=100 closed=false"
		ticker    = "ticker binance BNB-BTC t=1672515782136 rcv=1672515782500 last=0.0025 bid=0.0024x10 ask=0.0026x100 o=0.0010 h=0.0025 l=0.0010 v=10000 qv=18"
		bnbTrade  = "binance:trade:BNB-BTC"
		bnbTicker = "binance:ticker:BNB-BTC"
		bnbKline  = "binance:candle.1m:BNB-BTC"
	)
	tests := []struct {
		file string
		want outcome
	}{
		{"trade_raw.json", outcome{records: []string{trade}}},
		{"trade_combined.json", outcome{records: []string{trade}}},
		{"trade_combined_taker_buy.json", outcome{records: []string{
			"trade binance BNB-BTC t=1672515782139 rcv=1672515782500 id=12346 p=0.00100000 q=0.50000000 buy"}}},
		{"kline_raw.json", outcome{records: []string{kline}}},
		{"kline_combined_forming.json", outcome{records: []string{kline}}},
		{"kline_combined_closed.json", outcome{records: []string{
			"candle binance BNB-BTC t=1672515780000 rcv=1672515782500 1m o=0.0010 h=0.0025 l=0.0015 c=0.0021 v=1100 qv=1.1000 n=111 closed=true"}}},
		{"kline_combined_empty.json", outcome{records: []string{
			"candle binance BNB-BTC t=1672515900000 rcv=1672515782500 1m o=0.0021 h=0.0021 l=0.0021 c=0.0021 v=0.00000000 qv=0.00000000 n=0 closed=false"}}},
		{"ticker_raw.json", outcome{records: []string{ticker}}},
		{"ticker_combined.json", outcome{records: []string{ticker}}},
		{"shutdown_raw.json", outcome{reconnect: true}},
		{"shutdown_combined.json", outcome{reconnect: true}},
		{"ack_subscribe.json", outcome{ackID: 1}},
		{"ack_unsubscribe.json", outcome{ackID: 312}},
		{"result_list_subscriptions.json", outcome{ignored: true}},
		{"result_get_property.json", outcome{ignored: true}},
		{"error_nested_invalid_stream.json", outcome{exchErr: "2|Invalid request: invalid stream|true"}},
		{"error_nested_invalid_json.json", outcome{exchErr: "3|Invalid JSON: expected value at line 1 column 1|true"}},
		{"error_flat_unknown_property.json", outcome{exchErr: "0|Unknown property|true"}},
		{"error_flat_too_many_parameters.json", outcome{exchErr: "2|Invalid request: too many parameters|true"}},
		{"unknown_aggtrade.json", outcome{reason: collector.ReasonUnknownChannel, field: "e"}},
		{"unknown_bookticker.json", outcome{reason: collector.ReasonUnknownChannel, field: "stream"}},
		{"unknown_depthupdate.json", outcome{reason: collector.ReasonBadField, field: "e"}}, // @depth (1000 ms) is not the stream subscribed
		{"depth_combined.json", outcome{}},                                                  // a book message: books_test.go
		{"depth_raw.json", outcome{}},
		{"bad_truncated.json", outcome{reason: collector.ReasonMalformedJSON}},
		{"bad_price_text.json", outcome{reason: collector.ReasonBadNumber, field: "p", stream: bnbTrade}},
		{"bad_price_number.json", outcome{reason: collector.ReasonBadField, field: "p", stream: bnbTrade}},
		{"bad_missing_trade_time.json", outcome{reason: collector.ReasonBadField, field: "T", stream: bnbTrade}},
		{"bad_zero_trade_time.json", outcome{reason: collector.ReasonBadTimestamp, field: "T", stream: bnbTrade}},
		{"bad_trade_id_negative.json", outcome{reason: collector.ReasonBadNumber, field: "t", stream: bnbTrade}},
		{"bad_ticker_missing_bid.json", outcome{reason: collector.ReasonBadField, field: "b", stream: bnbTicker}},
		{"bad_unplanned_symbol.json", outcome{reason: collector.ReasonUnknownSymbol, field: "stream"}},
		{"bad_symbol_mismatch.json", outcome{reason: collector.ReasonBadField, field: "s", stream: bnbTrade}},
		{"bad_event_mismatch.json", outcome{reason: collector.ReasonBadField, field: "e"}},
		{"bad_kline_month.json", outcome{reason: collector.ReasonUnknownChannel, field: "k.i"}},
		{"bad_kline_interval_mismatch.json", outcome{reason: collector.ReasonBadField, field: "k.i"}},
		{"bad_data_array.json", outcome{reason: collector.ReasonBadField, field: "data"}},
		{"bad_not_object.json", outcome{reason: collector.ReasonMalformedJSON}},
		{"bad_unknown_message.json", outcome{reason: collector.ReasonUnknownChannel}},
		{"bad_trailing_data.json", outcome{reason: collector.ReasonMalformedJSON}},
	}
	a := newTestAdapter(t)
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var tested []string
	for _, tt := range tests {
		tested = append(tested, filepath.Join("testdata", tt.file))
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			frame, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			checkOutcome(t, a, frame, tt.want)
		})
	}
	for _, f := range files {
		if !slices.Contains(tested, f) {
			t.Errorf("%s has no golden case", f)
		}
	}
}

// checkOutcome decodes frame and compares everything Decode reports.
func checkOutcome(t *testing.T, a *Adapter, frame []byte, want outcome) {
	t.Helper()
	var ev collector.Event
	err := a.Decode(frame, received, &ev)
	var de *collector.DecodeError
	switch {
	case want.reason == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want.reason != "" && !errors.As(err, &de):
		t.Fatalf("error %v, want a DecodeError %s", err, want.reason)
	case want.reason != "":
		if de.Reason != want.reason || de.Field != want.field {
			t.Errorf("decode error %s/%q, want %s/%q (%v)", de.Reason, de.Field, want.reason, want.field, err)
		}
		if de.Stream.Exchange != market.Binance {
			t.Errorf("decode error stream %+v lacks the exchange", de.Stream)
		}
		if want.stream != "" && de.Stream.String() != want.stream {
			t.Errorf("decode error stream %s, want %s", de.Stream, want.stream)
		}
	}
	var got []string
	for _, r := range ev.Records {
		got = append(got, render(r))
	}
	if !slices.Equal(got, want.records) {
		t.Errorf("records\n got %q\nwant %q", got, want.records)
	}
	if ev.AckID != want.ackID || ev.Reconnect != want.reconnect || ev.Ignored != want.ignored {
		t.Errorf("ack %d reconnect %t ignored %t, want %d %t %t", ev.AckID, ev.Reconnect, ev.Ignored, want.ackID, want.reconnect, want.ignored)
	}
	gotErr := ""
	if ev.Err != nil {
		if ev.Err.Exchange != market.Binance {
			t.Errorf("exchange error from %q", ev.Err.Exchange)
		}
		gotErr = fmt.Sprintf("%s|%s|%t", ev.Err.Code, ev.Err.Message, ev.Err.Permanent)
	}
	if gotErr != want.exchErr {
		t.Errorf("exchange error %q, want %q", gotErr, want.exchErr)
	}
	if ev.Pong || ev.Heartbeat || len(ev.Acked) > 0 {
		t.Errorf("unexpected pong/heartbeat/acked: %+v", ev)
	}
}

// TestDecodeEdgeCases covers frames that are valid JSON but unusual.
func TestDecodeEdgeCases(t *testing.T) {
	const trade = "trade binance BNB-BTC t=1672515782136 rcv=1672515782500 id=12345 p=0.001 q=100 sell"
	tests := []struct {
		name  string
		frame string
		want  outcome
	}{
		{"whitespace everywhere", " {\n \"stream\" : \"bnbbtc@trade\" ,\t\"data\" : { \"e\" : \"trade\" , \"s\" : \"BNBBTC\" , \"t\" : 12345 , \"p\" : \"0.001\" , \"q\" : \"100\" , \"T\" : 1672515782136 , \"m\" : true } } \r\n",
			outcome{records: []string{trade}}},
		{"data before stream", `{"data":{"e":"trade","s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true},"stream":"bnbbtc@trade"}`,
			outcome{records: []string{trade}}},
		{"escaped key and value", `{"stream":"bnbbtc\u0040trade","data":{"\u0065":"trade","s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true}}`,
			outcome{records: []string{trade}}},
		{"unknown fields ignored", `{"stream":"bnbbtc@trade","data":{"e":"trade","s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"X":{"deep":[1,2,{"a":null}]},"Y":-1.5e-3}}`,
			outcome{records: []string{trade}}},
		{"payload without symbol", `{"stream":"bnbbtc@trade","data":{"e":"trade","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true}}`,
			outcome{records: []string{trade}}},
		{"lower-case payload symbol", `{"stream":"bnbbtc@trade","data":{"e":"trade","s":"bnbbtc","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true}}`,
			outcome{records: []string{trade}}},
		{"raw payload without symbol", `{"e":"trade","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true}`,
			outcome{reason: collector.ReasonBadField, field: "s"}},
		{"long decimal", `{"stream":"bnbbtc@trade","data":{"e":"trade","s":"BNBBTC","t":1,"p":"12345678901234567890.123456789","q":"1","T":1672515782136,"m":false}}`,
			outcome{records: []string{"trade binance BNB-BTC t=1672515782136 rcv=1672515782500 id=1 p=12345678901234567890.123456789 q=1 buy"}}},
		{"price with exponent", `{"stream":"bnbbtc@trade","data":{"e":"trade","s":"BNBBTC","t":1,"p":"1e-3","q":"1","T":1672515782136,"m":false}}`,
			outcome{reason: collector.ReasonBadNumber, field: "p", stream: "binance:trade:BNB-BTC"}},
		{"trade id as string", `{"stream":"bnbbtc@trade","data":{"e":"trade","s":"BNBBTC","t":"12345","p":"0.001","q":"100","T":1672515782136,"m":true}}`,
			outcome{reason: collector.ReasonBadField, field: "t", stream: "binance:trade:BNB-BTC"}},
		{"fractional time", `{"stream":"bnbbtc@trade","data":{"e":"trade","s":"BNBBTC","t":1,"p":"0.001","q":"100","T":1672515782136.5,"m":true}}`,
			outcome{reason: collector.ReasonBadNumber, field: "T", stream: "binance:trade:BNB-BTC"}},
		{"maker flag as string", `{"stream":"bnbbtc@trade","data":{"e":"trade","s":"BNBBTC","t":1,"p":"0.001","q":"100","T":1672515782136,"m":"true"}}`,
			outcome{reason: collector.ReasonBadField, field: "m", stream: "binance:trade:BNB-BTC"}},
		{"kline without k", `{"stream":"bnbbtc@kline_1m","data":{"e":"kline","E":1672515782136,"s":"BNBBTC"}}`,
			outcome{reason: collector.ReasonBadField, field: "k", stream: "binance:candle.:BNB-BTC"}},
		{"kline k repeated", `{"stream":"bnbbtc@kline_1m","data":{"e":"kline","k":{"i":"1m"},"k":{"i":"5m"}}}`,
			outcome{reason: collector.ReasonMalformedJSON}},
		{"missing stream name", `{"data":{"e":"trade","s":"BNBBTC","t":1,"p":"0.001","q":"100","T":1672515782136,"m":true}}`,
			outcome{reason: collector.ReasonBadField, field: "stream"}},
		{"missing event type on a known stream", `{"stream":"bnbbtc@trade","data":{"s":"BNBBTC","t":1,"p":"0.001","q":"100","T":1672515782136,"m":true}}`,
			outcome{reason: collector.ReasonBadField, field: "e"}},
		{"shutdown on any stream", `{"stream":"bnbbtc@trade","data":{"e":"serverShutdown","E":1770123456789}}`,
			outcome{reconnect: true}},
		{"ack with string id", `{"result":null,"id":"abc"}`, outcome{ignored: true}},
		{"ack with null id", `{"result":null,"id":null}`, outcome{ignored: true}},
		{"ack with negative id", `{"result":null,"id":-4}`, outcome{reason: collector.ReasonBadNumber, field: "id"}},
		{"error with string code", `{"error":{"code":"2","msg":"Invalid request"},"id":9}`, outcome{exchErr: "2|Invalid request|true"}},
		{"error with unknown code", `{"error":{"code":1008,"msg":"Too many requests"}}`, outcome{exchErr: "1008|Too many requests|false"}},
		{"error as text", `{"error":"boom","id":9}`, outcome{exchErr: "|boom|false"}},
		{"empty error", `{"error":{},"id":9}`, outcome{reason: collector.ReasonBadField, field: "error"}},
		{"error with array code", `{"code":[2],"msg":"x"}`, outcome{reason: collector.ReasonBadField, field: "code"}},
		{"empty object", `{}`, outcome{reason: collector.ReasonUnknownChannel}},
		{"empty frame", ``, outcome{reason: collector.ReasonMalformedJSON}},
		{"leading zero", `{"result":null,"id":01}`, outcome{reason: collector.ReasonMalformedJSON}},
		{"control character in string", "{\"stream\":\"a\x01\"}", outcome{reason: collector.ReasonMalformedJSON}},
		{"bad escape", `{"stream":"\x"}`, outcome{reason: collector.ReasonMalformedJSON}},
		{"deep nesting", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, outcome{reason: collector.ReasonMalformedJSON}},
		{"trailing comma", `{"result":null,"id":1,}`, outcome{reason: collector.ReasonMalformedJSON}},
	}
	a := newTestAdapter(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOutcome(t, a, []byte(tt.frame), tt.want) })
	}
}

// TestDecodeSymbolsFromSubscribe checks that a symbol added at runtime by
// Subscribe decodes, and that one never planned does not.
func TestDecodeSymbolsFromSubscribe(t *testing.T) {
	a := newTestAdapter(t)
	frame := []byte(`{"stream":"ethusdt@trade","data":{"e":"trade","s":"ETHUSDT","t":7,"p":"1200.5","q":"0.25","T":1672515782136,"m":false}}`)
	var ev collector.Event
	err := a.Decode(frame, received, &ev)
	var de *collector.DecodeError
	if !errors.As(err, &de) || de.Reason != collector.ReasonUnknownSymbol {
		t.Fatalf("before subscribing: %v, want unknown_symbol", err)
	}
	eth := market.Stream{Exchange: market.Binance, Symbol: "ETH-USDT", Type: market.TypeTrade}
	if _, err := a.Subscribe(collector.ConnPlan{Key: "0"}, []market.Stream{eth}, 3); err != nil {
		t.Fatal(err)
	}
	ev.Reset()
	if err := a.Decode(frame, received, &ev); err != nil {
		t.Fatal(err)
	}
	want := "trade binance ETH-USDT t=1672515782136 rcv=1672515782500 id=7 p=1200.5 q=0.25 buy"
	if len(ev.Records) != 1 || render(ev.Records[0]) != want {
		t.Errorf("records %v, want %s", ev.Records, want)
	}
}

// TestDecodeAfterReset checks that Decode appends to a reused Event.
func TestDecodeAfterReset(t *testing.T) {
	a := newTestAdapter(t)
	frame, err := os.ReadFile("testdata/trade_combined.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev collector.Event
	for i := range 3 {
		ev.Reset()
		if err := a.Decode(frame, received, &ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.Records) != 1 {
			t.Fatalf("round %d: %d records", i, len(ev.Records))
		}
	}
}

func benchmarkDecode(b *testing.B, file string) {
	a := newTestAdapter(b)
	frame, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		b.Fatal(err)
	}
	var ev collector.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		ev.Reset()
		if err := a.Decode(frame, received, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTrade(b *testing.B)  { benchmarkDecode(b, "trade_combined.json") }
func BenchmarkDecodeTicker(b *testing.B) { benchmarkDecode(b, "ticker_combined.json") }
func BenchmarkDecodeCandle(b *testing.B) { benchmarkDecode(b, "kline_combined_closed.json") }

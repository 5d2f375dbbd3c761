package coinbase

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
var received = time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.UTC)

func newTestAdapter(tb testing.TB) *Adapter {
	tb.Helper()
	a, err := New(Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// render writes a record on one line, every field included (the kit's
// rendering, with this package's received time).
func render(r market.Record) string { return adaptertest.Render(r, received) }

// streamText writes a stream as exchange/type/symbol, whatever is set.
func streamText(s market.Stream) string {
	return fmt.Sprintf("%s/%s/%s", s.Exchange, s.Type, s.Symbol)
}

// outcome is what a test expects of one frame.
type outcome struct {
	records []string
	acked   []string
	// heartbeat is "stream time" of an expected heartbeat.
	heartbeat string
	// exchErr is "message|stream|permanent|unknown" of an expected exchange
	// error (unknown: ExchangeError.UnknownCode).
	exchErr string
	ignored bool
	// reason, field and stream describe the expected DecodeError.
	reason, field, stream string
}

// got describes what Decode made of a frame, in outcome's terms.
func got(ev *collector.Event, err error) outcome {
	var o outcome
	for _, r := range ev.Records {
		o.records = append(o.records, render(r))
	}
	for _, s := range ev.Acked {
		o.acked = append(o.acked, s.String())
	}
	if ev.Heartbeat {
		o.heartbeat = ev.HeartbeatStream.String() + " " + adaptertest.Stamp(ev.HeartbeatTime)
	}
	if ev.Err != nil {
		o.exchErr = fmt.Sprintf("%s|%s|%t|%t", ev.Err.Message, ev.Err.Stream.Symbol, ev.Err.Permanent, ev.Err.UnknownCode)
		if ev.Err.Exchange != market.Coinbase || ev.Err.Code != "" || ev.Err.Stream.Exchange != market.Coinbase {
			o.exchErr += fmt.Sprintf(" (exchange %q, code %q, stream %s)", ev.Err.Exchange, ev.Err.Code, streamText(ev.Err.Stream))
		}
	}
	o.ignored = ev.Ignored
	if err != nil {
		var de *collector.DecodeError
		if !errors.As(err, &de) {
			o.reason = fmt.Sprintf("not a DecodeError: %v", err)
			return o
		}
		o.reason, o.field, o.stream = de.Reason, de.Field, streamText(de.Stream)
	}
	return o
}

func (o outcome) String() string {
	return fmt.Sprintf("records=%q acked=%q heartbeat=%q err=%q ignored=%t reason=%q field=%q stream=%q",
		o.records, o.acked, o.heartbeat, o.exchErr, o.ignored, o.reason, o.field, o.stream)
}

func TestDecodeGolden(t *testing.T) {
	const (
		match   = "trade coinbase BTC-USD t=2014-11-07T08:19:27.028459Z id=10 p=400.23 q=5.23512 buy"
		trade   = "coinbase/trade/BTC-USD"
		ticker  = "coinbase/ticker/ETH-USD"
		hbNoSym = "coinbase//BTC-USD"
		none    = "coinbase//"
	)
	tests := []struct {
		file string
		want outcome
	}{
		// Documented frames.
		{"match.json", outcome{records: []string{match}}},
		{"ticker.json", outcome{records: []string{
			"ticker coinbase ETH-USD t=2022-10-19T23:28:22.061769Z last=1285.22 bid=1285.04x0.46688654 ask=1285.27x1.56637040 o=1310.79 h=1313.8 l=1280.52 v=245532.79269678 qv=-"}}},
		{"heartbeat.json", outcome{heartbeat: "coinbase:trade:BTC-USD 2014-11-07T08:19:28.464459Z"}},
		{"subscriptions.json", outcome{acked: []string{"coinbase:book:ETH-USD", "coinbase:book:ETH-EUR", "coinbase:ticker:ETH-USD", "coinbase:ticker:ETH-EUR", "coinbase:ticker:ETH-BTC"}}},
		{"snapshot.json", outcome{}}, // a book message: books_test.go
		{"l2update.json", outcome{}}, // a book message: books_test.go
		{"request_subscribe.json", outcome{ignored: true}},
		{"error_message_only.json", outcome{exchErr: "error message||false|true"}},
		// Observed frames.
		{"error_invalid_product.json", outcome{exchErr: "Failed to subscribe: ETH-USD is not a valid product|ETH-USD|true|false"}},
		{"error_no_channels.json", outcome{exchErr: "Failed to subscribe: No channels provided||false|false"}},
		{"error_auth.json", outcome{exchErr: "Failed to subscribe: level2, level3, and full channels now require authentication. https://docs.cloud.coinbase.com/exchange/docs/websocket-auth||true|false"}},
		{"error_unknown_reason.json", outcome{exchErr: "Failed to subscribe: a reason this client does not know yet||false|true"}},
		// A refused signature on the signed level2 subscribe: every order
		// book stream, permanent unless the timestamp was off.
		{"error_auth_signature.json", outcome{exchErr: `Sorry, you could not be authenticated: Bad Request: invalid signature||true|false (exchange "coinbase", code "invalid signature", stream coinbase/orderbook/)`}},
		{"error_auth_timestamp.json", outcome{exchErr: `Sorry, you could not be authenticated: Bad Request: request timestamp expired||false|false (exchange "coinbase", code "request timestamp expired", stream coinbase/orderbook/)`}},
		{"ticker_no_sizes.json", outcome{records: []string{
			"ticker coinbase ETH-USD t=2018-10-13T23:10:32.804Z last=196.71000000 bid=196.71x- ask=196.72x- o=194.92000000 h=198.37000000 l=193.45000000 v=39113.63137656 qv=-"}}},
		{"ticker_no_time.json", outcome{reason: collector.ReasonBadField, field: "time", stream: "coinbase/ticker/HBAR-USD"}},
		{"heartbeat_zero_last_trade_id.json", outcome{heartbeat: "coinbase:trade:BTC-USD 2020-05-12T05:20:06.782635Z"}},
		// Frames derived from the documented ones.
		{"last_match.json", outcome{records: []string{match}}},
		{"match_maker_buy.json", outcome{records: []string{
			"trade coinbase BTC-USD t=2014-11-07T08:19:27.5Z id=11 p=400.20 q=0.10 sell"}}},
		{"subscriptions_feed.json", outcome{acked: []string{"coinbase:ticker:BTC-USD", "coinbase:trade:BTC-USD", "coinbase:trade:ETH-USD"}}},
		{"subscriptions_empty.json", outcome{}},
		{"unknown_type.json", outcome{ignored: true}},
		// Malformed frames.
		{"bad_truncated.json", outcome{reason: collector.ReasonMalformedJSON, stream: none}},
		{"bad_not_object.json", outcome{reason: collector.ReasonMalformedJSON, stream: none}},
		{"bad_trailing_data.json", outcome{reason: collector.ReasonMalformedJSON, stream: none}},
		{"bad_missing_type.json", outcome{reason: collector.ReasonBadField, field: "type", stream: none}},
		{"bad_type_number.json", outcome{reason: collector.ReasonBadField, field: "type", stream: none}},
		{"bad_match_price_number.json", outcome{reason: collector.ReasonBadField, field: "price", stream: trade}},
		{"bad_match_price_text.json", outcome{reason: collector.ReasonBadNumber, field: "price", stream: trade}},
		{"bad_match_missing_trade_id.json", outcome{reason: collector.ReasonBadField, field: "trade_id", stream: trade}},
		{"bad_match_trade_id_string.json", outcome{reason: collector.ReasonBadField, field: "trade_id", stream: trade}},
		{"bad_match_trade_id_fraction.json", outcome{reason: collector.ReasonBadNumber, field: "trade_id", stream: trade}},
		{"bad_match_side.json", outcome{reason: collector.ReasonBadField, field: "side", stream: trade}},
		{"bad_match_time.json", outcome{reason: collector.ReasonBadTimestamp, field: "time", stream: trade}},
		{"bad_match_product.json", outcome{reason: collector.ReasonUnknownSymbol, field: "product_id", stream: "coinbase/trade/"}},
		{"bad_match_missing_size.json", outcome{reason: collector.ReasonBadField, field: "size", stream: trade}},
		{"bad_ticker_missing_price.json", outcome{reason: collector.ReasonBadField, field: "price", stream: ticker}},
		{"bad_ticker_best_bid.json", outcome{reason: collector.ReasonBadNumber, field: "best_bid", stream: ticker}},
		{"bad_heartbeat_missing_time.json", outcome{reason: collector.ReasonBadField, field: "time", stream: hbNoSym}},
		{"bad_heartbeat_last_trade_id_string.json", outcome{reason: collector.ReasonBadField, field: "last_trade_id", stream: hbNoSym}},
		{"bad_heartbeat_date.json", outcome{reason: collector.ReasonBadTimestamp, field: "time", stream: hbNoSym}},
		{"bad_subscriptions_channels_object.json", outcome{reason: collector.ReasonBadField, field: "channels", stream: none}},
		{"bad_subscriptions_product.json", outcome{reason: collector.ReasonUnknownSymbol, field: "product_ids", stream: none}},
		{"bad_error_message_number.json", outcome{reason: collector.ReasonBadField, field: "message", stream: none}},
		{"bad_error_empty.json", outcome{reason: collector.ReasonBadField, field: "message", stream: none}},
	}
	a := newTestAdapter(t)
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.file] = true
		t.Run(strings.TrimSuffix(tc.file, ".json"), func(t *testing.T) {
			frame, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var ev collector.Event
			err = a.Decode(frame, received, &ev)
			if g := got(&ev, err); g.String() != tc.want.String() {
				t.Errorf("Decode(%s):\n got %s\nwant %s", tc.file, g, tc.want)
			}
		})
	}
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("testdata frame %s has no golden case", f)
		}
	}
}

// TestDecodeReusesEvent checks that a reset Event carries nothing over from
// the frame before.
func TestDecodeReusesEvent(t *testing.T) {
	a := newTestAdapter(t)
	var ev collector.Event
	for _, file := range []string{"subscriptions_feed.json", "match.json", "heartbeat.json", "error_auth.json", "unknown_type.json", "ticker.json"} {
		frame, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		ev.Reset()
		if err := a.Decode(frame, received, &ev); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	if len(ev.Records) != 1 || len(ev.Acked) != 0 || ev.Heartbeat || ev.Err != nil || ev.Ignored {
		t.Fatalf("after the ticker frame: %s", got(&ev, nil))
	}
}

func TestDecodeEscapedValues(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  string
	}{
		{
			name:  "escaped type and price",
			frame: `{"type":"m\u0061tch","trade_id":7,"time":"2014-11-07T08:19:27.028459Z","product_id":"BTC\u002dUSD","size":"1","price":"400\u002e5","side":"sell"}`,
			want:  "trade coinbase BTC-USD t=2014-11-07T08:19:27.028459Z id=7 p=400.5 q=1 buy",
		},
		{
			name:  "white space and key order",
			frame: " {\n \"side\" : \"buy\" , \"price\":\"1.0\",\"size\":\"2\",\"product_id\":\"ETH-BTC\",\"time\":\"2024-02-29T23:59:59Z\",\"trade_id\":0,\"type\":\"match\"}\r\n",
			want:  "trade coinbase ETH-BTC t=2024-02-29T23:59:59Z id=0 p=1.0 q=2 sell",
		},
		{
			name:  "time with an offset",
			frame: `{"type":"match","trade_id":8,"time":"2014-11-07T09:19:27.1+01:00","product_id":"BTC-USD","size":"1","price":"2","side":"buy"}`,
			want:  "trade coinbase BTC-USD t=2014-11-07T08:19:27.1Z id=8 p=2 q=1 sell",
		},
		{
			name:  "repeated key keeps the last value",
			frame: `{"type":"match","trade_id":8,"trade_id":9,"time":"2014-11-07T08:19:27Z","product_id":"BTC-USD","size":"1","price":"2","side":"buy"}`,
			want:  "trade coinbase BTC-USD t=2014-11-07T08:19:27Z id=9 p=2 q=1 sell",
		},
		{
			name:  "null optional ticker fields",
			frame: `{"type":"ticker","product_id":"BTC-USD","price":"5","best_bid":null,"best_ask":"6","time":"2024-01-01T00:00:00.000001Z"}`,
			want:  "ticker coinbase BTC-USD t=2024-01-01T00:00:00.000001Z last=5 bid=-x- ask=6x- o=- h=- l=- v=- qv=-",
		},
	}
	a := newTestAdapter(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev collector.Event
			if err := a.Decode([]byte(tc.frame), received, &ev); err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, r := range ev.Records {
				lines = append(lines, render(r))
			}
			if !slices.Equal(lines, []string{tc.want}) {
				t.Errorf("got %q\nwant %q", lines, tc.want)
			}
		})
	}
}

func TestParseHeartbeat(t *testing.T) {
	tests := []struct {
		file   string
		want   Heartbeat
		reason string
	}{
		{file: "heartbeat.json", want: Heartbeat{Symbol: "BTC-USD", Sequence: 90, LastTradeID: 20,
			Time: time.Date(2014, 11, 7, 8, 19, 28, 464459000, time.UTC)}},
		{file: "heartbeat_zero_last_trade_id.json", want: Heartbeat{Symbol: "BTC-USD", Sequence: 14011426656, LastTradeID: 0,
			Time: time.Date(2020, 5, 12, 5, 20, 6, 782635000, time.UTC)}},
		{file: "match.json", reason: collector.ReasonBadField},
		{file: "bad_truncated.json", reason: collector.ReasonMalformedJSON},
		{file: "bad_heartbeat_missing_time.json", reason: collector.ReasonBadField},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.file, ".json"), func(t *testing.T) {
			frame, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			hb, err := ParseHeartbeat(frame)
			if tc.reason != "" {
				var de *collector.DecodeError
				if !errors.As(err, &de) || de.Reason != tc.reason {
					t.Fatalf("err = %v, want a DecodeError %s", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if hb != tc.want || hb.Time.Location() != time.UTC {
				t.Errorf("got %+v, want %+v", hb, tc.want)
			}
		})
	}
}

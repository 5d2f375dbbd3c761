package okx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/market"
)

// golden is what one frame of testdata/ws must decode to.
type golden struct {
	name    string
	file    string
	records []market.Record
	acked   []market.Stream
	err     *collector.ExchangeError
	pong    bool
	reconn  bool
	ignored bool
	// reason and field of the expected DecodeError; "" when none.
	reason string
	field  string
	// errStream is the DecodeError's stream, when checked.
	errStream *market.Stream
}

func goldenCases() []golden {
	btc := "BTC-USDT"
	trade := &market.Trade{Meta: okxMeta(btc, ms(1630048897897)), TradeID: "130639474",
		Price: dec("42219.9"), Size: dec("0.12060306"), Side: market.Buy}
	tradeStream := stream(market.TypeTrade, btc, "")
	firstOfTwo := &market.Trade{Meta: okxMeta(btc, ms(1630048897901)), TradeID: "130639475",
		Price: dec("42219.90"), Size: dec("0.10"), Side: market.Sell}
	ticker := &market.Ticker{Meta: okxMeta(btc, ms(1597026383085)),
		Last: ndec("9999.99"), Bid: ndec("8888.88"), Ask: ndec("9999.99"), BidSize: ndec("5"), AskSize: ndec("11"),
		Open24h: ndec("9000"), High24h: ndec("10000"), Low24h: ndec("8888.88"),
		Volume24h: ndec("2222"), QuoteVolume24h: ndec("2222")}
	tickerEmpty := *ticker
	tickerEmpty.Ask, tickerEmpty.AskSize = decimal.NullDecimal{}, decimal.NullDecimal{}
	return []golden{
		// Pushed data.
		{name: "documented ticker", file: "ticker.json", records: []market.Record{ticker}},
		{name: "ticker with empty best ask", file: "ticker_empty_values.json", records: []market.Record{&tickerEmpty}},
		{name: "documented trade", file: "trade.json", records: []market.Record{trade}},
		{name: "documented trade pretty-printed", file: "trade_pretty.json", records: []market.Record{trade}},
		{name: "trade with data before arg", file: "trade_data_first.json", records: []market.Record{trade}},
		{name: "two trades in one push keep their scale", file: "trades_two.json", records: []market.Record{
			firstOfTwo,
			&market.Trade{Meta: okxMeta(btc, ms(1630048897901)), TradeID: "130639476",
				Price: dec("42220"), Size: dec("1.5"), Side: market.Buy},
		}},
		{name: "forming daily candle (UTC bar)", file: "candle1Dutc_forming.json", records: []market.Record{
			&market.Candle{Meta: okxMeta(btc, ms(1629936000000)), Timeframe: market.TF1d,
				Open: dec("42500"), High: dec("48199.9"), Low: dec("41006.1"), Close: dec("41006.1"),
				Volume: dec("3587.41204591"), QuoteVolume: ndec("166741046.22583129"), Trades: -1, Closed: false},
		}},
		{name: "closed minute candle", file: "candle1m_closed.json", records: []market.Record{
			&market.Candle{Meta: okxMeta(btc, ms(1630048860000)), Timeframe: market.TF1m,
				Open: dec("42219.9"), High: dec("42230.0"), Low: dec("42210.1"), Close: dec("42225.5"),
				Volume: dec("12.5"), QuoteVolume: ndec("527818.75"), Trades: -1, Closed: true},
		}},
		{name: "seven-column row: quote volume from volCcy, forming", file: "candle1H_seven_columns.json", records: []market.Record{
			&market.Candle{Meta: okxMeta("ETH-USDT", ms(1630047600000)), Timeframe: market.TF1h,
				Open: dec("3200.1"), High: dec("3210"), Low: dec("3190.5"), Close: dec("3205.25"),
				Volume: dec("150.5"), QuoteVolume: ndec("482390.125"), Trades: -1, Closed: false},
		}},
		{name: "empty volCcyQuote falls back to volCcy", file: "candle1H_empty_quote.json", records: []market.Record{
			&market.Candle{Meta: okxMeta("ETH-USDT", ms(1630047600000)), Timeframe: market.TF1h,
				Open: dec("3200.1"), High: dec("3210"), Low: dec("3190.5"), Close: dec("3205.25"),
				Volume: dec("150.5"), QuoteVolume: ndec("482390.125"), Trades: -1, Closed: true},
		}},
		{name: "documented candle1D opens at UTC+8: not a channel of ours", file: "candle1D_utc8.json",
			reason: collector.ReasonUnknownChannel, field: "arg.channel", errStream: &market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT"}},
		{name: "documented books snapshot: a book message (see books_test.go)", file: "books_snapshot.json"},
		{name: "documented books update: a book message (see books_test.go)", file: "books_update.json"},

		// Events.
		{name: "documented subscribe ack", file: "ack_subscribe.json", acked: []market.Stream{stream(market.TypeTicker, btc, "")}},
		{name: "candle subscribe ack", file: "ack_subscribe_candle.json", acked: []market.Stream{stream(market.TypeCandle, btc, market.TF1w)}},
		{name: "documented candle1D ack: not a channel of ours", file: "ack_subscribe_candle1D.json",
			reason: collector.ReasonUnknownChannel, field: "arg.channel"},
		{name: "documented unsubscribe ack", file: "ack_unsubscribe.json", ignored: true},
		{name: "documented error 60012 on a futures instrument", file: "error_60012.json", err: &collector.ExchangeError{
			Exchange: market.OKX, Code: "60012", Permanent: true,
			Message: `Invalid request: {"op": "subscribe", "argss":[{ "channel" : "tickers", "instId" : "LTC-USD-200327"}]}`}},
		{name: "error 60012 naming a spot stream", file: "error_60012_spot.json", err: &collector.ExchangeError{
			Exchange: market.OKX, Code: "60012", Permanent: true, Stream: stream(market.TypeTrade, "LTC-USDT", ""),
			Message: `Invalid request: {"op": "subscribe", "argss":[{ "channel" : "trades", "instId" : "LTC-USDT"}]}`}},
		{name: "observed error 60018 unknown instrument", file: "error_60018.json", err: &collector.ExchangeError{
			Exchange: market.OKX, Code: "60018", Permanent: true, Stream: stream(market.TypeTicker, "NOPE-USDT", ""),
			Message: "Wrong URL or channel:tickers,instId:NOPE-USDT doesn't exist. Please use the correct URL, channel and parameters referring to API document."}},
		{name: "observed error 60018 for a channel not ours", file: "error_60018_candle1s.json", err: &collector.ExchangeError{
			Exchange: market.OKX, Code: "60018", Permanent: true,
			Message: "Wrong URL or channel:candle1s,instId:BTC-USDT-SWAP doesn't exist. Please use the correct URL, channel and parameters referring to API document."}},
		{name: "observed error 64001 candles on the public URL", file: "error_64001.json", err: &collector.ExchangeError{
			Exchange: market.OKX, Code: "64001", Permanent: true,
			Message: "This channel has been migrated to the '/business' URL. Please subscribe using the new URL. More details can refer to: https://www.okx.com/help-center/changes-to-v5-api-websocket-subscription-parameter-and-url"}},
		{name: "error 60014 too frequent is not permanent", file: "error_60014.json", err: &collector.ExchangeError{
			Exchange: market.OKX, Code: "60014", Message: "Requests too frequent"}},
		{name: "an undocumented code is an unknown code", file: "error_unknown_code.json", err: &collector.ExchangeError{
			Exchange: market.OKX, Code: "60099", Message: "A rule this client does not know yet", UnknownCode: true}},
		{name: "documented notice 64008 asks to reconnect", file: "notice_64008.json", reconn: true},
		{name: "documented channel-conn-count", file: "channel_conn_count.json", ignored: true},
		{name: "pong", file: "pong.txt", pong: true},

		// Malformed frames.
		{name: "truncated", file: "bad_truncated.json", reason: collector.ReasonMalformedJSON},
		{name: "trailing data drops decoded records", file: "bad_trailing_data.json", reason: collector.ReasonMalformedJSON},
		{name: "price as a JSON number", file: "bad_price_number.json", reason: collector.ReasonBadField, field: "px", errStream: &tradeStream},
		{name: "price not a decimal", file: "bad_price_text.json", reason: collector.ReasonBadNumber, field: "px", errStream: &tradeStream},
		{name: "trade without ts", file: "bad_trade_missing_ts.json", reason: collector.ReasonBadField, field: "ts"},
		{name: "trade ts not milliseconds", file: "bad_trade_ts_text.json", reason: collector.ReasonBadTimestamp, field: "ts"},
		{name: "trade side unknown", file: "bad_trade_side.json", reason: collector.ReasonBadField, field: "side"},
		{name: "bad second trade keeps the first", file: "bad_trade_second_of_two.json", records: []market.Record{firstOfTwo},
			reason: collector.ReasonBadNumber, field: "sz"},
		{name: "trade instId contradicts arg", file: "bad_trade_instid_mismatch.json", reason: collector.ReasonBadField, field: "instId"},
		{name: "trade px given twice", file: "bad_trade_duplicate_px.json", reason: collector.ReasonBadField, field: "px"},
		{name: "swap instrument", file: "bad_swap_instid.json", reason: collector.ReasonUnknownSymbol, field: "arg.instId"},
		{name: "candle confirm not 0 or 1", file: "bad_candle_confirm.json", reason: collector.ReasonBadField, field: "confirm"},
		{name: "candle row of five columns", file: "bad_candle_short_row.json", reason: collector.ReasonBadField, field: "vol"},
		{name: "candle ts as a JSON number", file: "bad_candle_number_column.json", reason: collector.ReasonBadField, field: "ts"},
		{name: "ticker without ts", file: "bad_ticker_missing_ts.json", reason: collector.ReasonBadField, field: "ts"},
		{name: "ticker last as a JSON number", file: "bad_ticker_price_number.json", reason: collector.ReasonBadField, field: "last"},
		{name: "data not an array", file: "bad_data_not_array.json", reason: collector.ReasonBadField, field: "data"},
		{name: "data without arg", file: "bad_data_without_arg.json", reason: collector.ReasonBadField, field: "arg"},
		{name: "unknown event", file: "bad_unknown_event.json", reason: ReasonUnknownEvent, field: "event"},
		{name: "object neither event nor data", file: "bad_unknown_message.json", reason: ReasonUnknownMessage},
		{name: "array frame", file: "bad_not_object.json", reason: ReasonUnknownMessage},
		{name: "text frame ping", file: "bad_ping_text.json", reason: collector.ReasonMalformedJSON},
	}
}

func TestDecodeGolden(t *testing.T) {
	a := newAdapter(t, Config{})
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			frame := readTestdata(t, filepath.Join("ws", tc.file))
			var ev collector.Event
			err := a.Decode(frame, received, &ev)

			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
			} else {
				var de *collector.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("Decode error = %v, want a DecodeError %s", err, tc.reason)
				}
				if de.Reason != tc.reason || de.Field != tc.field {
					t.Errorf("DecodeError reason %q field %q, want %q %q (%v)", de.Reason, de.Field, tc.reason, tc.field, de)
				}
				if de.Stream.Exchange != market.OKX {
					t.Errorf("DecodeError stream exchange %q, want okx", de.Stream.Exchange)
				}
				if tc.errStream != nil && de.Stream != *tc.errStream {
					t.Errorf("DecodeError stream %+v, want %+v", de.Stream, *tc.errStream)
				}
			}
			if got, want := renderAll(ev.Records), renderAll(tc.records); got != want {
				t.Errorf("records:\n got %s\nwant %s", got, want)
			}
			if !equalStreams(ev.Acked, tc.acked) {
				t.Errorf("acked %v, want %v", ev.Acked, tc.acked)
			}
			if (ev.Err == nil) != (tc.err == nil) || ev.Err != nil && *ev.Err != *tc.err {
				t.Errorf("exchange error %+v, want %+v", ev.Err, tc.err)
			}
			if ev.Pong != tc.pong || ev.Reconnect != tc.reconn || ev.Ignored != tc.ignored {
				t.Errorf("pong %t reconnect %t ignored %t, want %t %t %t", ev.Pong, ev.Reconnect, ev.Ignored, tc.pong, tc.reconn, tc.ignored)
			}
			if ev.Heartbeat || ev.AckID != 0 {
				t.Errorf("heartbeat %t ackID %d, want neither", ev.Heartbeat, ev.AckID)
			}
		})
	}
}

// TestGoldenCoversTestdata fails when a frame in testdata/ws has no golden case.
func TestGoldenCoversTestdata(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "ws"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tc := range goldenCases() {
		covered[tc.file] = true
	}
	for _, e := range entries {
		if !covered[e.Name()] {
			t.Errorf("testdata/ws/%s has no golden case", e.Name())
		}
	}
}

// TestDecodeAppends checks that Decode appends to records already in the
// event and, on a malformed frame, drops only its own.
func TestDecodeAppends(t *testing.T) {
	a := newAdapter(t, Config{})
	earlier := &market.Trade{TradeID: "earlier"}
	tests := []struct {
		name string
		file string
		want int
	}{
		{name: "good frame appends", file: "trades_two.json", want: 3},
		{name: "malformed frame keeps earlier records", file: "bad_trailing_data.json", want: 1},
		{name: "event frame keeps earlier records", file: "ack_subscribe.json", want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := collector.Event{Records: []market.Record{earlier}}
			_ = a.Decode(readTestdata(t, filepath.Join("ws", tc.file)), received, &ev)
			if len(ev.Records) != tc.want || ev.Records[0] != earlier {
				t.Fatalf("records %s, want %d starting with the earlier one", renderAll(ev.Records), tc.want)
			}
		})
	}
}

// TestDecodeStrictJSON checks frames that a lenient parser would accept.
func TestDecodeStrictJSON(t *testing.T) {
	a := newAdapter(t, Config{})
	tests := []struct {
		name   string
		frame  string
		reason string
	}{
		{name: "single quotes", frame: `{'event':'subscribe'}`, reason: collector.ReasonMalformedJSON},
		{name: "trailing comma", frame: `{"event":"unsubscribe",}`, reason: collector.ReasonMalformedJSON},
		{name: "leading zero number", frame: `{"event":"unsubscribe","x":01}`, reason: collector.ReasonMalformedJSON},
		{name: "control character in string", frame: "{\"event\":\"unsub\x01scribe\"}", reason: collector.ReasonMalformedJSON},
		{name: "bad escape", frame: `{"event":"\q"}`, reason: collector.ReasonMalformedJSON},
		{name: "too deep", frame: `{"x":` + repeat("[", 100) + repeat("]", 100) + `}`, reason: collector.ReasonMalformedJSON},
		{name: "empty frame", frame: ``, reason: collector.ReasonMalformedJSON},
		{name: "escaped channel still matches", frame: `{"event":"subscribe","arg":{"channel":"t\u0072ades","instId":"BTC-USDT"}}`, reason: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev collector.Event
			err := a.Decode([]byte(tc.frame), received, &ev)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			var de *collector.DecodeError
			if !errors.As(err, &de) || de.Reason != tc.reason {
				t.Fatalf("Decode error = %v, want reason %s", err, tc.reason)
			}
		})
	}
}

func repeat(s string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		out += s
	}
	return out
}

func equalStreams(a, b []market.Stream) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDecodeDecimalRule: OKX prices and sizes follow the kit's one decimal
// rule (wire.ParseDecimal): a documented trade with its px rewritten is
// read exactly or refused as bad_number, never guessed at.
func TestDecodeDecimalRule(t *testing.T) {
	a := newAdapter(t, Config{})
	frame := `{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"PX","sz":"0.12060306","side":"buy","ts":"1630048897897"}]}`
	tests := []struct {
		px, want string // want "" means refused
	}{
		{"42219.9", "422199e-1"},
		{"42219.90", "4221990e-2"},
		{"4.22199e4", ""},
		{"4.22199E+4", ""},
		{"+42219.9", ""},
		{"042219.9", ""},
		{".5", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.px, func(t *testing.T) {
			var ev collector.Event
			err := a.Decode([]byte(strings.Replace(frame, "PX", tc.px, 1)), received, &ev)
			if tc.want == "" {
				var de *collector.DecodeError
				if !errors.As(err, &de) || de.Reason != collector.ReasonBadNumber || de.Field != "px" {
					t.Fatalf("Decode error = %v, want bad_number on px", err)
				}
				return
			}
			if err != nil || len(ev.Records) != 1 {
				t.Fatalf("Decode: %v, %d records", err, len(ev.Records))
			}
			p := ev.Records[0].(*market.Trade).Price
			if got := fmt.Sprintf("%se%d", p.Coefficient(), p.Exponent()); got != tc.want {
				t.Errorf("price %s, want %s", got, tc.want)
			}
		})
	}
}

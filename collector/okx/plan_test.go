package okx

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"marketetl/collector"
	"marketetl/market"
)

func TestPlan(t *testing.T) {
	a := newAdapter(t, Config{PublicURL: "ws://127.0.0.1:1/pub", BusinessURL: "ws://127.0.0.1:1/biz"})
	tick := stream(market.TypeTicker, "BTC-USDT", "")
	trd := stream(market.TypeTrade, "ETH-USDT", "")
	c1m := stream(market.TypeCandle, "BTC-USDT", market.TF1m)
	c1d := stream(market.TypeCandle, "ETH-USDT", market.TF1d)
	tests := []struct {
		name    string
		streams []market.Stream
		want    []collector.ConnPlan
		wantErr string
	}{
		{name: "nothing", streams: nil, want: nil},
		{name: "public and business", streams: []market.Stream{c1m, trd, tick, c1d}, want: []collector.ConnPlan{
			{Key: "public", URL: "ws://127.0.0.1:1/pub", Streams: []market.Stream{tick, trd}},
			{Key: "business", URL: "ws://127.0.0.1:1/biz", Streams: []market.Stream{c1d, c1m}},
		}},
		{name: "public only", streams: []market.Stream{trd, tick}, want: []collector.ConnPlan{
			{Key: "public", URL: "ws://127.0.0.1:1/pub", Streams: []market.Stream{tick, trd}},
		}},
		{name: "business only, duplicates once", streams: []market.Stream{c1d, c1d}, want: []collector.ConnPlan{
			{Key: "business", URL: "ws://127.0.0.1:1/biz", Streams: []market.Stream{c1d}},
		}},
		{name: "balance refused", streams: []market.Stream{tick, stream(market.TypeBalance, "BTC-USDT", "")},
			wantErr: "serves tickers, trades, order books and candles, not balance"},
		{name: "another exchange refused", streams: []market.Stream{{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade}},
			wantErr: "not an OKX stream"},
		{name: "unknown timeframe refused", streams: []market.Stream{stream(market.TypeCandle, "BTC-USDT", "2d")},
			wantErr: `unknown timeframe "2d"`},
		{name: "malformed symbol refused", streams: []market.Stream{stream(market.TypeTrade, "BTCUSDT", "")},
			wantErr: "want BASE-QUOTE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.Plan(tc.streams)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Plan error = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Plan =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// TestTimeframeMapping pins the channel and REST bar of every timeframe:
// UTC-opening bars for 6h and longer.
func TestTimeframeMapping(t *testing.T) {
	want := map[market.Timeframe]string{
		market.TF1m: "1m", market.TF3m: "3m", market.TF5m: "5m", market.TF15m: "15m", market.TF30m: "30m",
		market.TF1h: "1H", market.TF2h: "2H", market.TF4h: "4H", market.TF6h: "6Hutc", market.TF12h: "12Hutc",
		market.TF1d: "1Dutc", market.TF1w: "1Wutc",
	}
	for _, tf := range market.Timeframes() {
		t.Run(string(tf), func(t *testing.T) {
			bar, err := barOf(tf)
			if err != nil || bar != want[tf] {
				t.Fatalf("barOf(%s) = %q, %v; want %q", tf, bar, err, want[tf])
			}
			ch, key, err := channelOf(stream(market.TypeCandle, "BTC-USDT", tf))
			if err != nil || ch != "candle"+want[tf] || key != "business" {
				t.Fatalf("channelOf = %q %q %v; want candle%s business", ch, key, err, want[tf])
			}
			typ, back, ok := kindOf([]byte(ch))
			if !ok || typ != market.TypeCandle || back != tf {
				t.Fatalf("kindOf(%q) = %s %s %t; want candle %s", ch, typ, back, ok, tf)
			}
		})
	}
	for _, ch := range []string{"candle1D", "candle6H", "candle12H", "candle1W", "candle1s", "candle1M", "books5", "books-l2-tbt"} {
		if _, _, ok := kindOf([]byte(ch)); ok {
			t.Errorf("kindOf(%q) is known; it is not a channel this adapter subscribes", ch)
		}
	}
}

func TestSubscribeFrames(t *testing.T) {
	a := newAdapter(t, Config{})
	plans, err := a.Plan([]market.Stream{
		stream(market.TypeTicker, "BTC-USDT", ""), stream(market.TypeTrade, "BTC-USDT", ""),
		stream(market.TypeCandle, "BTC-USDT", market.TF1h),
	})
	if err != nil {
		t.Fatal(err)
	}
	public, business := plans[0], plans[1]
	tests := []struct {
		name    string
		op      func(collector.ConnPlan, []market.Stream, uint64) ([][]byte, error)
		plan    collector.ConnPlan
		streams []market.Stream
		id      uint64
		want    []string
		wantErr string
	}{
		{name: "documented subscribe request", op: a.Subscribe, plan: public, id: 1512,
			streams: []market.Stream{stream(market.TypeTicker, "BTC-USDT", "")},
			want:    []string{`{"id":"1512","op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}`}},
		{name: "two streams in one frame", op: a.Subscribe, plan: public, id: 1, streams: public.Streams,
			want: []string{`{"id":"1","op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT"}]}`}},
		{name: "candles on business", op: a.Subscribe, plan: business, id: 2, streams: business.Streams,
			want: []string{`{"id":"2","op":"subscribe","args":[{"channel":"candle1H","instId":"BTC-USDT"}]}`}},
		{name: "documented unsubscribe request", op: a.Unsubscribe, plan: public, id: 3,
			streams: []market.Stream{stream(market.TypeTicker, "BTC-USDT", "")},
			want:    []string{`{"id":"3","op":"unsubscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}`}},
		{name: "nothing to send", op: a.Subscribe, plan: public, id: 4, streams: nil, want: nil},
		{name: "candle on the public connection refused", op: a.Subscribe, plan: public, id: 5,
			streams: business.Streams, wantErr: `belongs on connection "business", not "public"`},
		{name: "balance refused", op: a.Unsubscribe, plan: public, id: 6,
			streams: []market.Stream{stream(market.TypeBalance, "BTC-USDT", "")}, wantErr: "not balance"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frames, err := tc.op(tc.plan, tc.streams, tc.id)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range frames {
				got = append(got, string(f))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("frames\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// TestSubscribeSplitsLargeRequests subscribes more streams than fit in
// 64 KB: every frame stays under the limit, has its own id of at most 32
// alphanumerics, and together they carry every stream once, in order.
func TestSubscribeSplitsLargeRequests(t *testing.T) {
	a := newAdapter(t, Config{})
	tests := []struct {
		name       string
		n          int
		id         uint64
		wantFrames int
	}{
		{name: "one frame", n: 10, id: 18446744073709551615, wantFrames: 1},
		{name: "several frames", n: 3000, id: 18446744073709551615, wantFrames: 4},
	}
	idRe := regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var streams []market.Stream
			for i := 0; i < tc.n; i++ {
				streams = append(streams, stream(market.TypeCandle, fmt.Sprintf("A%019d-USDTUSDTUSDTUSDT", i), market.TF12h))
			}
			plan := collector.ConnPlan{Key: "business"}
			frames, err := a.Subscribe(plan, streams, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != tc.wantFrames {
				t.Errorf("%d frames, want %d", len(frames), tc.wantFrames)
			}
			ids := map[string]bool{}
			var all []string
			for _, f := range frames {
				if len(f) > maxFrameBytes {
					t.Errorf("frame of %d bytes, over %d", len(f), maxFrameBytes)
				}
				var req struct {
					ID   string `json:"id"`
					Op   string `json:"op"`
					Args []struct {
						Channel string `json:"channel"`
						InstID  string `json:"instId"`
					} `json:"args"`
				}
				if err := json.Unmarshal(f, &req); err != nil {
					t.Fatalf("frame is not JSON: %v", err)
				}
				if !idRe.MatchString(req.ID) || ids[req.ID] || req.Op != "subscribe" {
					t.Errorf("frame id %q op %q: want a fresh id of 1 to 32 alphanumerics and op subscribe", req.ID, req.Op)
				}
				ids[req.ID] = true
				for _, arg := range req.Args {
					if arg.Channel != "candle12Hutc" {
						t.Errorf("channel %q", arg.Channel)
					}
					all = append(all, arg.InstID)
				}
			}
			if len(all) != tc.n {
				t.Fatalf("%d args, want %d", len(all), tc.n)
			}
			for i, inst := range all {
				if inst != string(streams[i].Symbol) {
					t.Fatalf("arg %d is %s, want %s", i, inst, streams[i].Symbol)
				}
			}
		})
	}
}

package pubsub

import (
	"testing"

	"marketetl/market"
)

func TestChannelNames(t *testing.T) {
	tests := []struct {
		name        string
		prefix      string
		stream      market.Stream
		wantChannel string
		wantKey     string
	}{
		{"trade", "md", market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade}, "md:okx:trade:BTC-USDT", "md:stream:okx:trade:BTC-USDT"},
		{"candle", "md", market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1m}, "md:binance:candle.1m:BTC-USDT", "md:stream:binance:candle.1m:BTC-USDT"},
		{"order book is book", "md", market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeOrderBook}, "md:coinbase:book:BTC-USD", "md:stream:coinbase:book:BTC-USD"},
		{"ticker", "prod:md", market.Stream{Exchange: market.Coinbase, Symbol: "ETH-USD", Type: market.TypeTicker}, "prod:md:coinbase:ticker:ETH-USD", "prod:md:stream:coinbase:ticker:ETH-USD"},
		{"balance", "md", market.Stream{Exchange: market.OKX, Symbol: "USDT", Type: market.TypeBalance}, "md:okx:balance:USDT", "md:stream:okx:balance:USDT"},
		{"sanitised symbol", "md", market.Stream{Exchange: market.OKX, Symbol: "BTC:USDT*", Type: market.TypeTrade}, "md:okx:trade:BTC_USDT_", "md:stream:okx:trade:BTC_USDT_"},
		{"sanitised exchange and timeframe", "md", market.Stream{Exchange: "o k?x", Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: "1[m]"}, "md:o_k_x:candle.1_m_:BTC-USDT", "md:stream:o_k_x:candle.1_m_:BTC-USDT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Channel(tt.prefix, tt.stream); got != tt.wantChannel {
				t.Errorf("Channel = %q, want %q", got, tt.wantChannel)
			}
			if got := StreamKey(tt.prefix, tt.stream); got != tt.wantKey {
				t.Errorf("StreamKey = %q, want %q", got, tt.wantKey)
			}
		})
	}
}

func TestSanitizePart(t *testing.T) {
	tests := []struct {
		name, in, want string
		changed        bool
	}{
		{"valid symbol", "BTC-USDT", "BTC-USDT", false},
		{"valid exchange", "okx", "okx", false},
		{"valid kind", "candle.15m", "candle.15m", false},
		{"underscore kept", "BTC_USDT", "BTC_USDT", false},
		{"empty", "", "_", true},
		{"space", "BTC USDT", "BTC_USDT", true},
		{"colon", "BTC:USDT", "BTC_USDT", true},
		{"glob characters", `*?[]\`, "_____", true},
		{"pattern", "BTC-*", "BTC-_", true},
		{"control characters", "BTC\n\t\x00", "BTC___", true},
		{"slash", "BTC/USDT", "BTC_USDT", true},
		{"one underscore per character", "BTC€", "BTC_", true},
		{"invalid UTF-8 byte by byte", "A\xff\xfeB", "A__B", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := sanitize(tt.in)
			if got != tt.want || changed != tt.changed {
				t.Errorf("sanitize(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
			}
			if SanitizePart(tt.in) != tt.want {
				t.Errorf("SanitizePart(%q) = %q, want %q", tt.in, SanitizePart(tt.in), tt.want)
			}
		})
	}
}

// A record with a bad symbol is published under the sanitised name and
// counted.
func TestPublishSanitisesChannel(t *testing.T) {
	c, prefix := testRedis(t)
	sub := subscribe(t, c, prefix+":*")
	p := start(t, Config{URL: redisURL(), ChannelPrefix: prefix})
	bad := seqTrade(1)
	bad.Symbol = "BTC USDT*"
	p.Publish(bad)
	p.Publish(seqTrade(2))
	await(t, "both published", func() bool { return p.Status().Published == 2 })
	st := p.stop(t)
	if st.Sanitised != 1 {
		t.Errorf("sanitised %d, want 1", st.Sanitised)
	}
	msgs := sub.sync(t, c, prefix+":marker")
	if len(msgs) != 2 || msgs[0].Channel != prefix+":okx:trade:BTC_USDT_" {
		t.Fatalf("received %v, want the first on %s:okx:trade:BTC_USDT_", msgs, prefix)
	}
	rec, err := Decode([]byte(msgs[0].Payload))
	if err != nil || rec.Header().Symbol != "BTC USDT*" {
		t.Errorf("payload %s (%v): want the symbol as it was", msgs[0].Payload, err)
	}
}

// TestChannelStreamOfBalance: a balance goes on its account's channel,
// every asset together; other records on their own stream's.
func TestChannelStreamOfBalance(t *testing.T) {
	b := &market.Balance{Meta: market.Meta{Exchange: market.Binance, Symbol: "BTC"}, Account: "main"}
	if got := Channel("md", ChannelStream(b)); got != "md:binance:balance:main" {
		t.Errorf("balance channel %s, want md:binance:balance:main", got)
	}
	tr := &market.Trade{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT"}}
	if got := Channel("md", ChannelStream(tr)); got != "md:okx:trade:BTC-USDT" {
		t.Errorf("trade channel %s", got)
	}
}

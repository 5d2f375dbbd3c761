package kraken

import (
	"encoding/json"
	"fmt"
	"sort"

	"marketetl/collector"
	"marketetl/market"
)

// publicKey is the key of the adapter's only connection.
const publicKey = "public"

// Plan implements collector.Protocol. Every stream travels on one
// connection keyed "public" to Config.WSURL: a trade stream is the trade
// channel of its pair, a ticker stream the ticker channel, a candle stream
// the ohlc channel with the interval of its timeframe (1m 5m 15m 30m 1h 4h
// 1d). Order books, balances and other timeframes are refused.
func (a *Adapter) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	set := map[string]market.Stream{}
	for _, s := range streams {
		if err := checkStream(s); err != nil {
			return nil, err
		}
		set[s.String()] = s
	}
	if len(set) == 0 {
		return nil, nil
	}
	out := make([]market.Stream, 0, len(set))
	for _, s := range set {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return []collector.ConnPlan{{Key: publicKey, URL: a.cfg.WSURL, Streams: out}}, nil
}

// checkStream reports why the adapter cannot serve s, or nil.
func checkStream(s market.Stream) error {
	if s.Exchange != market.Kraken {
		return fmt.Errorf("stream %s: not a kraken stream", s)
	}
	if err := s.Check(); err != nil {
		return fmt.Errorf("stream %s: %w", s, err)
	}
	switch s.Type {
	case market.TypeTicker, market.TypeTrade:
		return nil
	case market.TypeCandle:
		if _, ok := intervalOf(s.Timeframe); !ok {
			return fmt.Errorf("stream %s: kraken ohlc serves 1m 5m 15m 30m 1h 4h 1d, not %s", s, s.Timeframe)
		}
		return nil
	}
	return fmt.Errorf("stream %s: kraken collects trade, ticker and candle streams, not %s", s, s.Type)
}

// request is a subscribe or unsubscribe request
// ({"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"]},"req_id":1}).
type request struct {
	Method string `json:"method"`
	Params params `json:"params"`
	ReqID  uint64 `json:"req_id"`
}

type params struct {
	Channel  string   `json:"channel"`
	Symbol   []string `json:"symbol"`
	Interval int64    `json:"interval,omitempty"`
}

// Subscribe implements collector.Protocol: one frame per channel (and per
// ohlc interval), each listing its pairs in order, all with request id id.
// Kraken acknowledges each pair separately. The channels' defaults are
// kept: trade without snapshot, ticker and ohlc with one.
func (a *Adapter) Subscribe(plan collector.ConnPlan, streams []market.Stream, id uint64) ([][]byte, error) {
	return frames("subscribe", streams, id)
}

// Unsubscribe implements collector.Protocol, as Subscribe.
func (a *Adapter) Unsubscribe(plan collector.ConnPlan, streams []market.Stream, id uint64) ([][]byte, error) {
	return frames("unsubscribe", streams, id)
}

func frames(method string, streams []market.Stream, id uint64) ([][]byte, error) {
	type key struct {
		channel  string
		interval int64
	}
	groups := map[key][]string{}
	var order []key
	for _, s := range streams {
		if err := checkStream(s); err != nil {
			return nil, err
		}
		k := key{}
		switch s.Type {
		case market.TypeTrade:
			k.channel = "trade"
		case market.TypeTicker:
			k.channel = "ticker"
		case market.TypeCandle:
			k.channel = "ohlc"
			k.interval, _ = intervalOf(s.Timeframe)
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], pairOf(s.Symbol))
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].channel != order[j].channel {
			return order[i].channel < order[j].channel
		}
		return order[i].interval < order[j].interval
	})
	out := make([][]byte, 0, len(order))
	for _, k := range order {
		pairs := groups[k]
		sort.Strings(pairs)
		b, err := json.Marshal(request{Method: method, Params: params{Channel: k.channel, Symbol: pairs, Interval: k.interval}, ReqID: id})
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, k.channel, err)
		}
		out = append(out, b)
	}
	return out, nil
}

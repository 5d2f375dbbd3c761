package binance

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"marketetl/collector"
	"marketetl/market"
)

// streamsPath is appended to the WebSocket base URL, followed by the
// stream names joined by "/" (web-socket-streams.md: combined streams are
// accessed at /stream?streams=<streamName1>/<streamName2>/...).
const streamsPath = "/stream?streams="

// maxStreamNameLen is the longest stream name the adapter builds: two
// assets of at most 20 characters and "@kline_15m".
const maxStreamNameLen = 2*20 + len("@kline_15m")

// intervals maps market timeframes to Binance kline intervals
// (web-socket-streams.md "Kline/Candlestick chart intervals"). Every market
// timeframe exists on Binance under the same name; Binance's 1s, 8h, 3d and
// 1M have no market timeframe. Intervals are case-sensitive: 1M is a month.
var intervals = map[market.Timeframe]string{
	market.TF1m: "1m", market.TF3m: "3m", market.TF5m: "5m", market.TF15m: "15m",
	market.TF30m: "30m", market.TF1h: "1h", market.TF2h: "2h", market.TF4h: "4h",
	market.TF6h: "6h", market.TF12h: "12h", market.TF1d: "1d", market.TF1w: "1w",
}

// interval returns the Binance kline interval of tf.
func interval(tf market.Timeframe) (string, error) {
	i, ok := intervals[tf]
	if !ok {
		return "", fmt.Errorf("timeframe %q has no Binance kline interval; want one of %v", string(tf), market.Timeframes())
	}
	return i, nil
}

// timeframeOf returns the market timeframe of a Binance kline interval.
func timeframeOf(i []byte) (market.Timeframe, bool) {
	// Binance's intervals are the market timeframes' names; only the
	// intervals without a market timeframe need refusing. The map's own
	// text is returned: a copy of i would allocate.
	iv, ok := intervals[market.Timeframe(i)]
	if !ok {
		return "", false
	}
	return market.Timeframe(iv), true
}

// streamName returns the Binance stream name of s: btcusdt@trade,
// btcusdt@ticker or btcusdt@kline_1m.
func streamName(s market.Stream) (string, error) {
	if s.Exchange != market.Binance {
		return "", fmt.Errorf("stream %s: not a binance stream", s)
	}
	if err := s.Symbol.Check(); err != nil {
		return "", fmt.Errorf("stream %s: %w", s, err)
	}
	sym := lowerSymbol(s.Symbol)
	switch s.Type {
	case market.TypeTrade:
		return sym + "@trade", nil
	case market.TypeTicker:
		// @ticker, not @bookTicker or @miniTicker: it carries the 24-hour
		// statistics and the best bid and ask together.
		return sym + "@ticker", nil
	case market.TypeCandle:
		i, err := interval(s.Timeframe)
		if err != nil {
			return "", fmt.Errorf("stream %s: %w", s, err)
		}
		return sym + "@kline_" + i, nil
	case market.TypeOrderBook:
		return sym + "@" + depthChannel, nil
	}
	return "", fmt.Errorf("stream %s: binance collects trade, ticker, orderbook and candle streams, not %s", s, s.Type)
}

// Plan implements collector.Protocol. It spreads the streams over
// combined-stream connections keyed "0", "1", ..., each carrying its
// streams in its URL, with at most MaxStreamsPerConn streams and a URL of
// at most MaxRequestBytes.
//
// Assignment is a pure function of the set of streams, so that every
// collector sharing the adapter gets the same answer: symbols are taken in
// the order of their Binance names, all streams of a symbol together, and
// fill connection "0", then "1", and so on. With the default limits one
// connection carries about 200 streams, so most collectors have the single
// connection "0" and every change is a runtime SUBSCRIBE or UNSUBSCRIBE on
// it. With several connections, a symbol added after all others in name
// order changes only the last connection; one added or removed in the
// middle shifts the symbols after it by about its own number of streams
// across each later connection boundary (an UNSUBSCRIBE on one connection
// and a SUBSCRIBE on the next), and no connection is redialled for it.
func (a *Adapter) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	type entry struct {
		stream market.Stream
		name   string
	}
	bySymbol := map[string][]entry{}
	var syms []market.Symbol
	seen := make(map[string]bool, len(streams))
	for _, s := range streams {
		name, err := streamName(s)
		if err != nil {
			return nil, err
		}
		key := lowerSymbol(s.Symbol)
		if group, ok := bySymbol[key]; !ok {
			syms = append(syms, s.Symbol)
		} else if prev := group[0].stream.Symbol; prev != s.Symbol {
			return nil, fmt.Errorf("symbols %s and %s are both Binance's %s; keep one", prev, s.Symbol, upperSymbol(s.Symbol))
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		bySymbol[key] = append(bySymbol[key], entry{stream: s, name: name})
	}
	order := make([]string, 0, len(bySymbol))
	for k, group := range bySymbol {
		order = append(order, k)
		sort.Slice(group, func(i, j int) bool { return group[i].name < group[j].name })
	}
	sort.Strings(order)

	prefix := a.wsBase + streamsPath
	var plans []collector.ConnPlan
	var cur *collector.ConnPlan // the connection being filled, the last of plans
	fits := func(n, size int) bool {
		return len(cur.Streams)+n <= a.cfg.MaxStreamsPerConn && len(cur.URL)+size <= a.cfg.MaxRequestBytes
	}
	open := func() {
		plans = append(plans, collector.ConnPlan{Key: strconv.Itoa(len(plans)), URL: prefix, URLCarriesStreams: true})
		cur = &plans[len(plans)-1]
	}
	for _, k := range order {
		group := bySymbol[k]
		size := 0 // of the group's names in a URL, separators included
		for _, e := range group {
			size += len(e.name) + 1
		}
		// Keep a symbol's streams together unless they cannot share any
		// connection.
		together := len(group) <= a.cfg.MaxStreamsPerConn && len(prefix)+size <= a.cfg.MaxRequestBytes
		if cur != nil && together && !fits(len(group), size) {
			cur = nil
		}
		for _, e := range group {
			if cur == nil || !fits(1, len(e.name)+1) {
				open()
			}
			if len(cur.Streams) > 0 {
				cur.URL += "/"
			}
			cur.URL += e.name
			cur.Streams = append(cur.Streams, e.stream)
		}
	}
	a.symbols.learn(syms)
	return plans, nil
}

// Subscribe implements collector.Protocol: SUBSCRIBE frames for streams
// added at runtime. A connection's initial streams travel in its URL, so
// the loop does not call Subscribe after dialling. Each frame counts
// against Binance's 5 messages per second, so as many streams as
// MaxRequestBytes allows go into one frame; every frame of one call
// carries id, and the exchange answers each with {"result":null,"id":id}.
func (a *Adapter) Subscribe(_ collector.ConnPlan, streams []market.Stream, id uint64) ([][]byte, error) {
	return a.request("SUBSCRIBE", streams, id)
}

// Unsubscribe implements collector.Protocol: UNSUBSCRIBE frames, built
// like Subscribe's.
func (a *Adapter) Unsubscribe(_ collector.ConnPlan, streams []market.Stream, id uint64) ([][]byte, error) {
	return a.request("UNSUBSCRIBE", streams, id)
}

// request builds {"method":<method>,"params":[<names>],"id":<id>} frames
// (web-socket-streams.md "Live Subscribing/Unsubscribing to streams").
func (a *Adapter) request(method string, streams []market.Stream, id uint64) ([][]byte, error) {
	if len(streams) == 0 {
		return nil, nil
	}
	// Binance takes a 64-bit signed integer id.
	if id > math.MaxInt64 {
		return nil, fmt.Errorf("%s: request id %d does not fit Binance's signed 64-bit id", method, id)
	}
	names := make([]string, 0, len(streams))
	seen := make(map[string]bool, len(streams))
	var syms []market.Symbol
	for _, s := range streams {
		name, err := streamName(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		syms = append(syms, s.Symbol)
		if seen[name] {
			continue
		}
		seen[name] = true
		names = append(names, name)
	}
	if method == "SUBSCRIBE" {
		if err := checkSpellings(syms); err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		a.symbols.learn(syms)
	}

	head := `{"method":"` + method + `","params":[`
	tail := `],"id":` + strconv.FormatUint(id, 10) + `}`
	var frames [][]byte
	var f []byte
	for _, n := range names {
		// Stream names are [a-z0-9@_] only: no JSON escaping is needed.
		if f != nil && len(f)+1+len(n)+2+len(tail) > a.cfg.MaxRequestBytes {
			frames = append(frames, append(f, tail...))
			f = nil
		}
		if f == nil {
			f = append(make([]byte, 0, a.cfg.MaxRequestBytes), head...)
		} else {
			f = append(f, ',')
		}
		f = append(f, '"')
		f = append(f, n...)
		f = append(f, '"')
	}
	return append(frames, append(f, tail...)), nil
}

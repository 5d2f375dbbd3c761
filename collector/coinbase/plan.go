package coinbase

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"marketetl/collector"
	"marketetl/market"
)

// feedKey is the key of the adapter's only connection.
const feedKey = "feed"

// Channel names (websocket-feed/channels).
const (
	channelTicker    = "ticker"
	channelMatches   = "matches"
	channelHeartbeat = "heartbeat"
)

// Plan implements collector.Protocol. Every stream travels on one
// connection keyed "feed" to Config.WSURL:
//   - a ticker stream is the product's ticker channel;
//   - a trade stream is the product's matches channel;
//   - a candle stream, of any timeframe, is listed in Aggregated and its
//     product's trade stream is put in Streams, so that the loop can build
//     the candles from the matches, whether or not the trades themselves
//     are wanted (the loop hands on only what is wanted).
//
// Streams holds the exchange streams subscribed, sorted; Aggregated the
// candle streams, sorted. An order book stream is its product's level2
// channel (level2_batch without API keys). Balances are refused: they are
// the private adapter's.
func (a *Adapter) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	subscribed := map[string]market.Stream{}
	aggregated := map[string]market.Stream{}
	for _, s := range streams {
		if err := checkStream(s); err != nil {
			return nil, err
		}
		if s.Type == market.TypeCandle {
			aggregated[s.String()] = s
			s = tradeStream(s.Symbol)
		}
		subscribed[s.String()] = s
	}
	if len(subscribed) == 0 {
		return nil, nil
	}
	return []collector.ConnPlan{{
		Key:        feedKey,
		URL:        a.cfg.WSURL,
		Streams:    sorted(subscribed),
		Aggregated: sorted(aggregated),
	}}, nil
}

// checkStream reports why the adapter cannot serve s, or nil.
func checkStream(s market.Stream) error {
	if s.Exchange != market.Coinbase {
		return fmt.Errorf("stream %s: not a coinbase stream", s)
	}
	if err := s.Check(); err != nil {
		return fmt.Errorf("stream %s: %w", s, err)
	}
	switch s.Type {
	case market.TypeTicker, market.TypeTrade, market.TypeCandle, market.TypeOrderBook:
		return nil
	}
	return fmt.Errorf("stream %s: coinbase collects trade, ticker, orderbook and candle streams, not %s", s, s.Type)
}

// tradeStream returns the trade stream of sym.
func tradeStream(sym market.Symbol) market.Stream {
	return market.Stream{Exchange: market.Coinbase, Symbol: sym, Type: market.TypeTrade}
}

func sorted(m map[string]market.Stream) []market.Stream {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]market.Stream, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// request is a subscribe or unsubscribe frame (websocket-feed/overview
// "Subscribe"): {"type":"subscribe","channels":[{"name":"ticker",
// "product_ids":["BTC-USD"]},...]}. Product ids are given per channel and
// never at the root, where they would apply to every channel.
type request struct {
	Type     string    `json:"type"`
	Channels []channel `json:"channels"`
}

type channel struct {
	Name       string   `json:"name"`
	ProductIDs []string `json:"product_ids"`
}

// Subscribe implements collector.Protocol: one subscribe frame for streams
// (ticker streams → ticker channel, trade streams → matches channel, order
// book streams → level2_batch; a candle stream stands for its product's
// matches) plus the heartbeat channel for the products that streams brings
// to the connection, that is those with no other stream in plan.Streams.
// At dial time streams is all of plan.Streams, so every product gets its
// heartbeat. With Config.Credentials, order book streams use the
// authenticated level2 channel instead, in a second frame of their own
// carrying the key, passphrase, timestamp and signature
// (websocket-feed/authentication): a refused signature then refuses only
// the order books, and the public channels of the first frame go on.
// Coinbase answers with a subscriptions message listing everything now
// subscribed, or with an error message. id is not used: Coinbase's
// messages carry no request id.
func (a *Adapter) Subscribe(plan collector.ConnPlan, streams []market.Stream, _ uint64) ([][]byte, error) {
	return a.buildRequest("subscribe", plan, streams)
}

// Unsubscribe implements collector.Protocol: one unsubscribe frame for
// streams, plus the heartbeat channel of the products that no stream of
// plan (the plan after the change) uses any longer. Heartbeats of products
// still in use are kept. An unsubscribe is never signed (only subscribing
// to level2 needs authentication).
func (a *Adapter) Unsubscribe(plan collector.ConnPlan, streams []market.Stream, _ uint64) ([][]byte, error) {
	return a.buildRequest("unsubscribe", plan, streams)
}

// bookChannel returns the order book channel: level2 with API keys,
// level2_batch without.
func (a *Adapter) bookChannel() string {
	if a.cfg.authenticated() {
		return channelLevel2
	}
	return channelLevel2Batch
}

// authRequest is an authenticated subscribe frame: the request with the
// key, passphrase, timestamp and signature of GET /users/self/verify.
type authRequest struct {
	request
	Signature  string `json:"signature"`
	Key        string `json:"key"`
	Passphrase string `json:"passphrase"`
	Timestamp  string `json:"timestamp"`
}

// buildRequest builds the frames of typ ("subscribe" or "unsubscribe") for
// streams, with the heartbeats of the products of streams that the other
// streams of plan do not use.
func (a *Adapter) buildRequest(typ string, plan collector.ConnPlan, streams []market.Stream) ([][]byte, error) {
	if len(streams) == 0 {
		return nil, nil
	}
	changing := make(map[string]bool, len(streams))
	ticker, matches, level2, products := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range streams {
		if err := checkStream(s); err != nil {
			return nil, fmt.Errorf("%s: %w", typ, err)
		}
		changing[s.String()] = true
		id := string(s.Symbol)
		products[id] = true
		switch s.Type {
		case market.TypeTicker:
			ticker[id] = true
		case market.TypeOrderBook:
			level2[id] = true
		default:
			matches[id] = true
		}
	}
	// A product whose heartbeat stays as it is: one that another stream of
	// the plan (already subscribed, or staying) uses.
	for _, s := range plan.Streams {
		if !changing[s.String()] {
			delete(products, string(s.Symbol))
		}
	}
	// signed: the level2 channel goes into a signed frame of its own.
	signed := typ == "subscribe" && a.cfg.authenticated() && len(level2) > 0
	req := request{Type: typ}
	for _, c := range []struct {
		name string
		ids  map[string]bool
		own  bool
	}{{channelTicker, ticker, false}, {channelMatches, matches, false}, {a.bookChannel(), level2, signed}, {channelHeartbeat, products, false}} {
		if len(c.ids) > 0 && !c.own {
			req.Channels = append(req.Channels, channel{Name: c.name, ProductIDs: sortedKeys(c.ids)})
		}
	}
	var frames [][]byte
	if len(req.Channels) > 0 {
		frame, err := json.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("%s: encode frame: %w", typ, err)
		}
		frames = append(frames, frame)
	}
	if signed {
		frame, err := a.signedRequest(typ, channel{Name: channelLevel2, ProductIDs: sortedKeys(level2)})
		if err != nil {
			return nil, err
		}
		frames = append(frames, frame)
	}
	return frames, nil
}

// signedRequest builds a frame of typ for ch signed with the adapter's
// keys at Config.Now: the timestamp in seconds with milliseconds, sent as
// a JSON string (a number is refused).
func (a *Adapter) signedRequest(typ string, ch channel) ([]byte, error) {
	c := a.cfg.Credentials
	ts := strconv.FormatFloat(float64(a.cfg.Now().UnixMilli())/1000, 'f', 3, 64)
	sig, err := SignFeed(c.Secret, ts)
	if err != nil {
		return nil, fmt.Errorf("%s: sign: %w", typ, err)
	}
	frame, err := json.Marshal(authRequest{request: request{Type: typ, Channels: []channel{ch}},
		Signature: sig, Key: c.Key.Reveal(), Passphrase: c.Passphrase.Reveal(), Timestamp: ts})
	if err != nil {
		return nil, fmt.Errorf("%s: encode signed frame: %w", typ, err)
	}
	return frame, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

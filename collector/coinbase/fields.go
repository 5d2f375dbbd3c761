package coinbase

import "marketetl/collector/wire"

// Coinbase's feed messages are flat objects whose values are strings and
// numbers. The adapter reads a frame with the kit's scanner
// (wire.Scanner), which checks that the whole frame is strict JSON, and
// notes where the values of the keys it reads are; nested values (the
// channels of a subscriptions message) are checked and located but not
// entered. The decoder then converts only the values it needs.

// fields holds the values of the keys the adapter reads. Other keys are
// checked and skipped. A repeated key keeps its last value, as in
// encoding/json.
type fields struct {
	typ, productID, time, sequence                   wire.Span
	tradeID, price, size, side                       wire.Span
	bestBid, bestBidSize, bestAsk, bestAskSize       wire.Span
	open24h, high24h, low24h, volume24h, lastTradeID wire.Span
	message, reason, channels                        wire.Span
}

// set records v as the value of key when the adapter reads that key.
func (f *fields) set(key []byte, v wire.Span) {
	switch string(key) {
	case "type":
		f.typ = v
	case "product_id":
		f.productID = v
	case "time":
		f.time = v
	case "sequence":
		f.sequence = v
	case "trade_id":
		f.tradeID = v
	case "price":
		f.price = v
	case "size":
		f.size = v
	case "side":
		f.side = v
	case "best_bid":
		f.bestBid = v
	case "best_bid_size":
		f.bestBidSize = v
	case "best_ask":
		f.bestAsk = v
	case "best_ask_size":
		f.bestAskSize = v
	case "open_24h":
		f.open24h = v
	case "high_24h":
		f.high24h = v
	case "low_24h":
		f.low24h = v
	case "volume_24h":
		f.volume24h = v
	case "last_trade_id":
		f.lastTradeID = v
	case "message":
		f.message = v
	case "reason":
		f.reason = v
	case "channels":
		f.channels = v
	}
}

// scanObject checks that b is one JSON object, optionally surrounded by
// white space, and records its top-level values in f.
func scanObject(b []byte, f *fields) error {
	s := wire.NewScanner(b)
	if s.Peek() != '{' {
		return s.Errorf("want an object")
	}
	err := s.Object(func(key []byte) error {
		v, err := s.Value()
		if err != nil {
			return err
		}
		f.set(key, v)
		return nil
	})
	if err != nil {
		return err
	}
	return s.End()
}

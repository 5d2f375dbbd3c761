package market

import (
	"fmt"
	"strings"
)

// Stream is one subscription: a data type for a symbol on an exchange, and a
// timeframe for candles.
type Stream struct {
	Exchange  Exchange
	Symbol    Symbol
	Type      DataType
	Timeframe Timeframe // candles only
}

// Kind is the stream's type as written in channel names and reports:
// "trade", "ticker", "book", "balance" or "candle.<timeframe>".
func (s Stream) Kind() string {
	switch s.Type {
	case TypeCandle:
		return "candle." + string(s.Timeframe)
	case TypeOrderBook:
		return "book"
	}
	return string(s.Type)
}

// String returns exchange:kind:symbol, for example okx:candle.1m:BTC-USDT.
func (s Stream) String() string {
	var b strings.Builder
	b.Grow(len(s.Exchange) + len(s.Symbol) + 16)
	b.WriteString(string(s.Exchange))
	b.WriteByte(':')
	b.WriteString(s.Kind())
	b.WriteByte(':')
	b.WriteString(string(s.Symbol))
	return b.String()
}

// Check reports why s is not a well-formed stream, or nil.
func (s Stream) Check() error {
	if !s.Exchange.Known() {
		return fmt.Errorf("unknown exchange %q", string(s.Exchange))
	}
	if err := s.Symbol.Check(); err != nil {
		return err
	}
	if !s.Type.Known() {
		return fmt.Errorf("unknown data type %q", string(s.Type))
	}
	if s.Type == TypeCandle && !s.Timeframe.Known() {
		return fmt.Errorf("candle stream %s: unknown timeframe %q", s.Symbol, string(s.Timeframe))
	}
	if s.Type != TypeCandle && s.Timeframe != "" {
		return fmt.Errorf("%s stream %s: a timeframe is for candles only", s.Type, s.Symbol)
	}
	return nil
}

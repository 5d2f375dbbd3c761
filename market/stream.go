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
	if s.Type == TypeBalance {
		// A balance collector's stream is its account: Symbol holds the
		// account label.
		if err := CheckAccount(string(s.Symbol)); err != nil {
			return err
		}
	} else if err := s.Symbol.Check(); err != nil {
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

// CheckAccount checks an account label (a balance collector's "account"):
// 1 to 64 characters of a-z, A-Z, 0-9, '-', '_' and '.'. It is stored with
// every balance row and is never a secret.
func CheckAccount(label string) error {
	if label == "" || len(label) > 64 {
		return fmt.Errorf("account %q: want 1 to 64 characters of a-z, A-Z, 0-9, '-', '_' and '.'", label)
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("account %q: want 1 to 64 characters of a-z, A-Z, 0-9, '-', '_' and '.'", label)
		}
	}
	return nil
}

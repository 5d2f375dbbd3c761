package market

import (
	"fmt"
	"strings"
)

// Exchange names an exchange in lower case, as it appears in the database,
// in Redis channel names and in configuration.
type Exchange string

// The exchanges marketetl speaks.
const (
	OKX      Exchange = "okx"
	Binance  Exchange = "binance"
	Coinbase Exchange = "coinbase"
	Kraken   Exchange = "kraken"
)

// Exchanges lists the known exchanges in a stable order.
func Exchanges() []Exchange { return []Exchange{OKX, Binance, Coinbase, Kraken} }

// Known reports whether e is one of the exchanges marketetl speaks.
func (e Exchange) Known() bool {
	switch e {
	case OKX, Binance, Coinbase, Kraken:
		return true
	}
	return false
}

// Symbol is a normalised instrument name, BASE-QUOTE in upper case, for
// example BTC-USDT or BTC-USD. Each part is 1 to 20 characters of A-Z and 0-9.
type Symbol string

// maxAssetLen bounds each part of a symbol.
const maxAssetLen = 20

// ParseSymbol normalises s (trimming space and upper-casing it) and checks
// that it is BASE-QUOTE.
func ParseSymbol(s string) (Symbol, error) {
	n := Symbol(strings.ToUpper(strings.TrimSpace(s)))
	if err := n.Check(); err != nil {
		return "", err
	}
	return n, nil
}

// Check reports why sym is not a well-formed normalised symbol, or nil.
func (sym Symbol) Check() error {
	base, quote, ok := strings.Cut(string(sym), "-")
	if !ok {
		return fmt.Errorf("symbol %q: want BASE-QUOTE, such as BTC-USDT", string(sym))
	}
	if err := checkAsset(base); err != nil {
		return fmt.Errorf("symbol %q: base: %w", string(sym), err)
	}
	if err := checkAsset(quote); err != nil {
		return fmt.Errorf("symbol %q: quote: %w", string(sym), err)
	}
	return nil
}

// Base returns the part before the dash ("BTC" of "BTC-USDT").
func (sym Symbol) Base() string {
	b, _, _ := strings.Cut(string(sym), "-")
	return b
}

// Quote returns the part after the dash ("USDT" of "BTC-USDT").
func (sym Symbol) Quote() string {
	_, q, _ := strings.Cut(string(sym), "-")
	return q
}

// CheckAsset reports why a is not a well-formed asset code (BTC, USDT), or nil.
func CheckAsset(a string) error { return checkAsset(a) }

func checkAsset(a string) error {
	if a == "" {
		return fmt.Errorf("empty")
	}
	if len(a) > maxAssetLen {
		return fmt.Errorf("%q is longer than %d characters", a, maxAssetLen)
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("%q: only A-Z and 0-9 are allowed", a)
		}
	}
	return nil
}

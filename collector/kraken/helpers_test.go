package kraken

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// received is the arrival time passed to Decode in the tests.
var received = time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.UTC)

func newTestAdapter(tb testing.TB) *Adapter {
	tb.Helper()
	a, err := New(Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// exact writes d with the digits it was read with: 40.0 stays 40.0.
func exact(d decimal.Decimal) string {
	if e := d.Exponent(); e < 0 {
		return d.StringFixed(-e)
	}
	return d.String()
}

func exactNull(d decimal.NullDecimal) string {
	if !d.Valid {
		return "-"
	}
	return exact(d.Decimal)
}

// stamp writes t in RFC 3339 with its fraction, flagging a time not in UTC.
func stamp(t time.Time) string {
	s := t.Format(time.RFC3339Nano)
	if t.Location() != time.UTC {
		s += "(not UTC)"
	}
	return s
}

// render writes a record on one line, every field included.
func render(r market.Record) string {
	h := r.Header()
	head := fmt.Sprintf("%s %s t=%s", h.Exchange, h.Symbol, stamp(h.Time))
	if !h.Received.Equal(received) {
		head += " rcv=" + stamp(h.Received)
	}
	switch r := r.(type) {
	case *market.Trade:
		return fmt.Sprintf("trade %s id=%s p=%s q=%s %s", head, r.TradeID, exact(r.Price), exact(r.Size), r.Side)
	case *market.Ticker:
		return fmt.Sprintf("ticker %s last=%s bid=%sx%s ask=%sx%s o=%s h=%s l=%s v=%s qv=%s", head,
			exactNull(r.Last), exactNull(r.Bid), exactNull(r.BidSize), exactNull(r.Ask), exactNull(r.AskSize),
			exactNull(r.Open24h), exactNull(r.High24h), exactNull(r.Low24h), exactNull(r.Volume24h), exactNull(r.QuoteVolume24h))
	case *market.Candle:
		return fmt.Sprintf("candle %s %s o=%s h=%s l=%s c=%s v=%s qv=%s n=%d closed=%t", head, r.Timeframe,
			exact(r.Open), exact(r.High), exact(r.Low), exact(r.Close), exact(r.Volume), exactNull(r.QuoteVolume), r.Trades, r.Closed)
	}
	return fmt.Sprintf("unexpected %T", r)
}

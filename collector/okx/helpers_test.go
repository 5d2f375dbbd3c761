package okx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/goleak"

	"marketetl/market"
)

// The REST tests run HTTP servers and clients; no goroutine may outlive them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// received is the receive time passed to Decode in the tests.
var received = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func newAdapter(t testing.TB, cfg Config) *Adapter {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dec parses a decimal keeping its scale ("0.10" has two places).
func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// ndec is a valid NullDecimal.
func ndec(s string) decimal.NullDecimal { return decimal.NullDecimal{Decimal: dec(s), Valid: true} }

// ms is a Unix millisecond time in UTC.
func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func stream(typ market.DataType, sym string, tf market.Timeframe) market.Stream {
	return market.Stream{Exchange: market.OKX, Symbol: market.Symbol(sym), Type: typ, Timeframe: tf}
}

// exact renders d with exactly the decimal places it carries, so that
// "0.10" and "0.1" differ.
func exact(d decimal.Decimal) string {
	places := -d.Exponent()
	if places < 0 {
		places = 0
	}
	return d.StringFixed(places)
}

func exactNull(d decimal.NullDecimal) string {
	if !d.Valid {
		return "null"
	}
	return exact(d.Decimal)
}

func meta(m market.Meta) string {
	return fmt.Sprintf("%s %s time=%s received=%s", m.Exchange, m.Symbol,
		m.Time.Format(time.RFC3339Nano)+"@"+m.Time.Location().String(), m.Received.Format(time.RFC3339Nano))
}

// render describes a record completely, decimals with their exact scale.
func render(r market.Record) string {
	switch v := r.(type) {
	case *market.Trade:
		return fmt.Sprintf("trade %s id=%s px=%s sz=%s side=%s", meta(v.Meta), v.TradeID, exact(v.Price), exact(v.Size), v.Side)
	case *market.Ticker:
		return fmt.Sprintf("ticker %s last=%s bid=%s ask=%s bidSz=%s askSz=%s open=%s high=%s low=%s vol=%s qvol=%s",
			meta(v.Meta), exactNull(v.Last), exactNull(v.Bid), exactNull(v.Ask), exactNull(v.BidSize), exactNull(v.AskSize),
			exactNull(v.Open24h), exactNull(v.High24h), exactNull(v.Low24h), exactNull(v.Volume24h), exactNull(v.QuoteVolume24h))
	case *market.Candle:
		return fmt.Sprintf("candle %s tf=%s o=%s h=%s l=%s c=%s vol=%s qvol=%s trades=%d closed=%t",
			meta(v.Meta), v.Timeframe, exact(v.Open), exact(v.High), exact(v.Low), exact(v.Close), exact(v.Volume),
			exactNull(v.QuoteVolume), v.Trades, v.Closed)
	}
	return fmt.Sprintf("unexpected record %T", r)
}

func renderAll(recs []market.Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(render(r))
		b.WriteByte('\n')
	}
	return b.String()
}

func renderTrades(ts []market.Trade) string {
	recs := make([]market.Record, len(ts))
	for i := range ts {
		recs[i] = &ts[i]
	}
	return renderAll(recs)
}

func renderCandles(cs []market.Candle) string {
	recs := make([]market.Record, len(cs))
	for i := range cs {
		recs[i] = &cs[i]
	}
	return renderAll(recs)
}

// okxMeta is the Meta of a decoded record of sym at t.
func okxMeta(sym string, t time.Time) market.Meta {
	return market.Meta{Exchange: market.OKX, Symbol: market.Symbol(sym), Time: t, Received: received}
}

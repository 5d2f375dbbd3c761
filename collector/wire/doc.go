// Package wire is the adapter kit: what every exchange package
// (collector/okx, collector/binance, collector/coinbase, and the next one)
// uses to read the exchange's frames and to call its REST API, so that an
// adapter holds only what is particular to its exchange. It imports
// nothing of the project; the collector types named below are the
// adapters' side of the contract.
//
// # JSON scanner
//
// Scanner reads a frame once as strict JSON (RFC 8259) while the decoder
// takes the values it needs in place, without reflection and without
// allocating unless a string holds escapes. A decoder walks the frame:
//
//	s := wire.NewScanner(frame)
//	err := s.Object(func(key []byte) error {
//		switch string(key) {
//		case "px":
//			sp, err := s.Value() // a Span: kind and offsets in frame
//			...
//		case "data":
//			return s.Array(func() error { return readRow(&s) })
//		}
//		_, err := s.Value() // every other value is validated and skipped
//		return err
//	})
//	if err == nil {
//		err = s.End() // nothing but white space may follow
//	}
//
// A syntax error is a *SyntaxError, which adapters report as
// collector.ReasonMalformedJSON. An adapter that must see every key before
// deciding (Binance's stream name, Coinbase's "type") records Spans in a
// table of fields while scanning and converts them afterwards (looping
// over the keys with BeginObject and NextKey needs no callback per key);
// one whose data may come before the key that says what it is (OKX's "data" before
// "arg") notes the Span and reads it again later with Seek. Text returns a
// string's bytes, unescaped. Nesting is bounded by MaxDepth. FuzzScan
// checks the scanner against encoding/json on every adapter's golden
// frames and on arbitrary input.
//
// # Decimal rule
//
// Prices, sizes and volumes are read with ParseDecimal, one rule for every
// exchange: the JSON string holds -?(0|[1-9][0-9]*)(\.[0-9]+)? and
// nothing else (no exponent, no '+', no leading zeros, no empty string),
// read exactly into a decimal.Decimal with its scale kept ("0.10" keeps two
// places); "-0" reads as zero. OKX, Binance and Coinbase document and send
// only this form. A value that breaks the rule is refused with
// ErrNotDecimal and the adapter reports collector.ReasonBadNumber; money
// never passes through float64. Decimals is ParseDecimal with a table of
// the decimals read recently, which it returns again without allocating
// (decimal.Decimal is immutable, so they may share their coefficient);
// DecimalsPool lends tables to a Decode that runs on several goroutines.
// Integers (ids, counts, Unix times) are read with ParseCount; SkipNumber
// is the JSON number grammar the scanner uses.
//
// # REST client
//
// RESTConfig is the REST client configuration every adapter shares: base
// URL, HTTP client, timeout, user agent, request budget, body bound and
// clock. NewREST applies its defaults (the one place they are applied)
// and checks the base URL; REST.Get makes one request and returns the
// status and body for the adapter to map to its exchange's errors.
//
// # Rate budget and Retry-After
//
// Budget is one exchange's REST request budget, shared by every caller of
// that exchange (the backfill, the candle reconciliation): a token bucket
// of request cost (Binance's request weight) and a pause of the whole
// budget on 429 or 418, for the answer's Retry-After or a default. It
// wraps an http.RoundTripper (Budget.Transport), given through
// RESTConfig.Budget or through the HTTP client. RetryAfter reads a
// Retry-After header (seconds or an HTTP date); an adapter turns a 429
// into a *collector.RetryAfterError with it and leaves the waiting to its
// caller: adapters never sleep or retry.
//
// # Endpoint URLs
//
// CheckWSURL checks a full WebSocket URL dialled as given; BaseURL checks
// a base URL to which the adapter appends the exchange's paths (and
// refuses one that already holds them). Errors redact passwords and say
// what to fix.
//
// # Trade ids
//
// An adapter keeps the exchange's trade id as its text
// (market.Trade.TradeID), checks that a numeric id is one with ParseCount,
// and declares how its exchange numbers trades by implementing
// collector.TradeIDRule: SequentialTradeIDs true when each symbol's trades
// are numbered one by one with decimal integers, so that the collector
// detects a skipped id as a gap and the backfill pages REST trades by id
// (History.Trades after an id). A record that stands for n trades sets
// market.Trade.Aggregates (OKX "count"): its TradeID is the last of the
// n ids. An exchange without such ids leaves the rule out and gets gap
// detection by time.
//
// docs/ADDING_AN_EXCHANGE.md walks through adding an exchange with the kit.
package wire

package validate

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"marketetl/market"
)

func TestCommonRules(t *testing.T) {
	trade := func(f func(*market.Trade)) func() market.Record {
		return func() market.Record { r := goodTrade(); f(r); return r }
	}
	runRules(t, []ruleCase{
		{name: "every exchange by default", rec: trade(func(r *market.Trade) { r.Exchange = market.Coinbase })},
		{name: "exactly 2009-01-01 UTC", rec: trade(func(r *market.Trade) { r.Time = time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{name: "ahead of the clock by exactly the allowance", rec: trade(func(r *market.Trade) { r.Time = now.Add(DefaultClockSkew) })},
		{name: "time in another zone", rec: trade(func(r *market.Trade) { r.Time = r.Time.In(time.FixedZone("UTC+8", 8*3600)) })},
		{name: "balance asset code", rec: func() market.Record { return goodBalance() }},

		{name: "nil record", rec: func() market.Record { return nil }, reason: UnknownType},
		{name: "nil trade pointer", rec: func() market.Record { return (*market.Trade)(nil) }, reason: UnknownType},
		{name: "foreign record type", rec: func() market.Record { return &foreign{Meta: meta("BTC-USDT")} }, reason: UnknownType},
		{name: "unknown exchange", rec: trade(func(r *market.Trade) { r.Exchange = "bitstamp" }), reason: UnknownExchange, field: "exchange"},
		{name: "empty exchange", rec: trade(func(r *market.Trade) { r.Exchange = "" }), reason: UnknownExchange, field: "exchange"},
		{name: "symbol without a dash", rec: trade(func(r *market.Trade) { r.Symbol = "BTCUSDT" }), reason: BadSymbol, field: "symbol"},
		{name: "lower-case symbol", rec: trade(func(r *market.Trade) { r.Symbol = "btc-usdt" }), reason: BadSymbol, field: "symbol"},
		{name: "empty symbol", rec: trade(func(r *market.Trade) { r.Symbol = "" }), reason: BadSymbol, field: "symbol"},
		{name: "balance with a pair instead of an asset", rec: func() market.Record {
			b := goodBalance()
			b.Symbol = "BTC-USDT"
			return b
		}, reason: BadSymbol, field: "symbol"},
		{name: "missing exchange time", rec: trade(func(r *market.Trade) { r.Time = time.Time{} }), reason: MissingTimestamp, field: "ts"},
		{name: "missing receipt time", rec: trade(func(r *market.Trade) { r.Received = time.Time{} }), reason: MissingTimestamp, field: "received_at"},
		{name: "just before 2009", rec: trade(func(r *market.Trade) {
			r.Time = time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond)
		}), reason: TimestampTooOld, field: "ts"},
		{name: "unix epoch (seconds read as milliseconds)", rec: trade(func(r *market.Trade) { r.Time = time.UnixMilli(1630048897) }), reason: TimestampTooOld, field: "ts"},
		{name: "beyond the allowance by a nanosecond", rec: trade(func(r *market.Trade) { r.Time = now.Add(DefaultClockSkew + time.Nanosecond) }), reason: TimestampInFuture, field: "ts"},
		{name: "candle opening in the future", rec: func() market.Record {
			c := goodCandle()
			c.Time, c.Closed = time.Date(2026, 11, 24, 10, 1, 0, 0, time.UTC), false
			return c
		}, reason: TimestampInFuture, field: "ts"},
	})
}

// foreign is a Record of a type validate does not know.
type foreign struct{ market.Meta }

func (*foreign) DataType() market.DataType { return "foreign" }
func (f *foreign) Stream() market.Stream {
	return market.Stream{Exchange: f.Exchange, Symbol: f.Symbol}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		trade   market.Exchange
		skewed  time.Duration // how far ahead of the clock the trade is
		wantErr bool
		want    Reason
	}{
		{name: "default accepts a configured exchange", trade: market.Binance},
		{name: "restricted to binance refuses okx", cfg: Config{Exchanges: []market.Exchange{market.Binance}}, trade: market.OKX, want: UnknownExchange},
		{name: "restricted to binance accepts binance", cfg: Config{Exchanges: []market.Exchange{market.Binance}}, trade: market.Binance},
		{name: "wider allowance accepts 30s ahead", cfg: Config{ClockSkew: 30 * time.Second}, trade: market.OKX, skewed: 30 * time.Second},
		{name: "default allowance refuses 6s ahead", trade: market.OKX, skewed: 6 * time.Second, want: TimestampInFuture},
		{name: "narrower allowance refuses 2s ahead", cfg: Config{ClockSkew: time.Second}, trade: market.OKX, skewed: 2 * time.Second, want: TimestampInFuture},
		{name: "negative allowance", cfg: Config{ClockSkew: -time.Second}, wantErr: true},
		{name: "unknown exchange configured", cfg: Config{Exchanges: []market.Exchange{market.OKX, "bitstamp"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(tc.cfg, func() time.Time { return now })
			if (err != nil) != tc.wantErr {
				t.Fatalf("New: err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			tr := goodTrade()
			tr.Exchange, tr.Time = tc.trade, now.Add(tc.skewed)
			var got Reason
			if r := v.Check(tr); r != nil {
				got = r.Reason
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConfigIsCopied(t *testing.T) {
	exchanges := []market.Exchange{market.OKX}
	v, err := New(Config{Exchanges: exchanges}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	exchanges[0] = market.Binance
	if r := v.Check(goodTrade()); r != nil {
		t.Fatalf("changing the caller's slice changed the validator: %s", r)
	}
}

func TestNilClockIsTheLocalClock(t *testing.T) {
	v, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := goodTrade()
	tr.Time, tr.Received = time.Now(), time.Now()
	if r := v.Check(tr); r != nil {
		t.Fatalf("a trade of now refused: %s", r)
	}
	tr.Time = time.Now().Add(time.Hour)
	if r := v.Check(tr); r == nil || r.Reason != TimestampInFuture {
		t.Fatalf("a trade an hour ahead: %v, want %s", r, TimestampInFuture)
	}
}

func TestRejectionReject(t *testing.T) {
	tr := goodTrade()
	tr.Price = dec("0")
	v, err := New(Config{}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	r := v.Check(tr)
	if r == nil {
		t.Fatal("accepted")
	}
	raw := []byte(`{"px":"0"}`)
	got := r.Reject(tr, raw)
	want := market.Reject{
		Received: tr.Received, Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade,
		Reason: "non_positive_price", Field: "price", Detail: r.Detail, Raw: raw,
	}
	if !got.Received.Equal(want.Received) || got.Exchange != want.Exchange || got.Symbol != want.Symbol || got.Type != want.Type ||
		got.Reason != want.Reason || got.Field != want.Field || got.Detail != want.Detail || string(got.Raw) != string(want.Raw) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}

	nilRej := v.Check(nil).Reject(nil, nil)
	if nilRej.Reason != string(UnknownType) || nilRej.Exchange != "" || nilRej.Type != "" {
		t.Fatalf("reject of a nil record: %+v", nilRej)
	}
}

func TestReasons(t *testing.T) {
	seen := map[Reason]bool{}
	snake := regexp.MustCompile(`^[a-z]+(_[a-z0-9]+)*$`)
	for _, r := range Reasons() {
		if seen[r] {
			t.Errorf("%s listed twice", r)
		}
		seen[r] = true
		if !snake.MatchString(string(r)) {
			t.Errorf("%q is not snake_case", r)
		}
	}
	// The reasons the package declares are all listed: count the
	// constants of type Reason in reasons.go.
	src, err := os.ReadFile("reasons.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := regexp.MustCompile(`(?m)^\t[A-Z]\w* Reason = "([a-z_0-9]+)"`).FindAllStringSubmatch(string(src), -1)
	for _, m := range declared {
		if !seen[Reason(m[1])] {
			t.Errorf("%s is declared but missing from Reasons()", m[1])
		}
	}
	if len(declared) != len(seen) {
		t.Errorf("%d reasons declared, %d listed", len(declared), len(seen))
	}
}

// TestReasonsDocumented keeps the user documentation in step with the
// code: every reason appears in the package documentation's table and in
// README.md, and neither lists a code that does not exist.
func TestReasonsDocumented(t *testing.T) {
	code := regexp.MustCompile("`?\\b([a-z]+(?:_[a-z0-9]+)+)\\b`?")
	for _, doc := range []struct {
		file, start, end string
	}{
		{file: "doc.go", start: "// # Reasons", end: "// When a record"},
		{file: "README.md", start: "## Reasons", end: "\n## "},
	} {
		t.Run(doc.file, func(t *testing.T) {
			b, err := os.ReadFile(doc.file)
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			i := strings.Index(text, doc.start)
			if i < 0 {
				t.Fatalf("no %q section", doc.start)
			}
			text = text[i+len(doc.start):]
			if j := strings.Index(text, doc.end); j >= 0 {
				text = text[:j]
			}
			var listed []Reason
			for _, line := range strings.Split(text, "\n") {
				line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "//"))
				line = strings.TrimSpace(strings.TrimPrefix(line, "|"))
				if m := code.FindStringSubmatch(line); m != nil && strings.Index(line, m[0]) == 0 {
					listed = append(listed, Reason(m[1]))
				}
			}
			for _, r := range Reasons() {
				if !slices.Contains(listed, r) {
					t.Errorf("%s is not documented", r)
				}
			}
			for _, r := range listed {
				if !slices.Contains(Reasons(), r) {
					t.Errorf("%s is documented but does not exist", r)
				}
			}
		})
	}
}

func TestConcurrentChecks(t *testing.T) {
	v, err := New(Config{}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]*Rejection, 8)
	for i := range results {
		wg.Go(func() {
			tr := goodTrade()
			if i%2 == 1 {
				tr.Side = "?"
			}
			for range 100 {
				results[i] = v.Check(tr)
			}
		})
	}
	wg.Wait()
	for i, r := range results {
		if (i%2 == 1) != (r != nil) {
			t.Errorf("goroutine %d: %v", i, r)
		}
	}
}

// A local clock measured 10 s behind an exchange's allows its times 10 s
// further ahead (capped at MaxClockCorrection); one measured ahead or
// another exchange's offset change nothing; an offset not measured yet
// allows MaxClockCorrection, so that no trade is refused for its time
// before the first measurement.
func TestMeasuredClockOffsetWidensTheAllowance(t *testing.T) {
	offsets := map[market.Exchange]time.Duration{market.OKX: -10 * time.Second, market.Binance: 10 * time.Second, market.Coinbase: -time.Hour}
	v, err := New(Config{ClockOffset: func(ex market.Exchange) (time.Duration, bool) {
		d, ok := offsets[ex]
		return d, ok
	}}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ex     market.Exchange
		ahead  time.Duration
		refuse bool
	}{
		{name: "behind: 15s ahead accepted", ex: market.OKX, ahead: 15 * time.Second},
		{name: "behind: beyond 15s refused", ex: market.OKX, ahead: 15*time.Second + time.Nanosecond, refuse: true},
		{name: "ahead: the plain allowance", ex: market.Binance, ahead: DefaultClockSkew + time.Nanosecond, refuse: true},
		{name: "far behind: capped", ex: market.Coinbase, ahead: DefaultClockSkew + MaxClockCorrection + time.Nanosecond, refuse: true},
		{name: "far behind: up to the cap", ex: market.Coinbase, ahead: DefaultClockSkew + MaxClockCorrection},
		{name: "not measured yet: up to the cap", ex: market.Kraken, ahead: DefaultClockSkew + MaxClockCorrection},
		{name: "not measured yet: beyond the cap refused", ex: market.Kraken, ahead: DefaultClockSkew + MaxClockCorrection + time.Nanosecond, refuse: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := goodTrade()
			tr.Exchange, tr.Time = tc.ex, now.Add(tc.ahead)
			switch tc.ex {
			case market.Coinbase, market.Binance, market.Kraken:
				tr.Symbol = "BTC-USD"
			}
			r := v.Check(tr)
			if tc.refuse != (r != nil) || (r != nil && r.Reason != TimestampInFuture) {
				t.Errorf("Check = %v, want refused %v", r, tc.refuse)
			}
		})
	}
}

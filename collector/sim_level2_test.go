package collector_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/collector/coinbase"
	"marketetl/credentials"
	"marketetl/market"
	"marketetl/sim"
)

// level2Sink keeps the book snapshots and counts the trades handed on.
type level2Sink struct {
	bookSink
	mu     sync.Mutex
	trades int
}

func (l *level2Sink) Accept(ctx context.Context, rec market.Record) error {
	if _, ok := rec.(*market.Trade); ok {
		l.mu.Lock()
		l.trades++
		l.mu.Unlock()
	}
	return l.bookSink.Accept(ctx, rec)
}

func (l *level2Sink) tradeCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.trades
}

// TestSimulatedCoinbaseLevel2 runs the Coinbase adapter against the
// simulated exchange, which checks the signature of an authenticated
// subscribe as Coinbase documents it: with API keys the order book comes
// from the authenticated level2 channel and the snapshots handed on are
// the simulator's book level for level; without keys from level2_batch;
// with a wrong secret the exchange's refusal marks the book stream refused
// (code "invalid signature", one subscription_refused anomaly) while the
// trades of the same connection go on, and nothing is redialled or
// resubscribed.
func TestSimulatedCoinbaseLevel2(t *testing.T) {
	demo := sim.DemoAPIKey(market.Coinbase)
	keys := func(secret string) credentials.Credentials {
		return credentials.Credentials{Name: "CB", Key: credentials.NewSecret(demo.Key), Secret: credentials.NewSecret(secret),
			Passphrase: credentials.NewSecret(demo.Passphrase)}
	}
	for _, tc := range []struct {
		name    string
		creds   credentials.Credentials
		channel string // the book channel subscribed; "" when refused
	}{
		{"keys", keys(demo.Secret), "level2"},
		{"no keys", credentials.Credentials{}, "level2_batch"},
		{"bad signature", keys(base64.StdEncoding.EncodeToString([]byte("not-the-secret-0123456789abcdef"))), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
			s, ep := listenSim(t, ctx, sim.Config{Seed: 5, Start: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, log)
			proto, err := coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST, Credentials: tc.creds})
			if err != nil {
				t.Fatal(err)
			}
			const depth = 25
			sym := market.Symbol("BTC-USD")
			books := market.Stream{Exchange: market.Coinbase, Symbol: sym, Type: market.TypeOrderBook}
			trades := market.Stream{Exchange: market.Coinbase, Symbol: sym, Type: market.TypeTrade}
			got := &level2Sink{}
			col, err := collector.New(collector.Config{Name: "level2", Streams: []market.Stream{books, trades}, Log: log, Gaps: got,
				BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
				Books: collector.BookConfig{Depth: depth, Interval: time.Nanosecond, DriftCheck: -1}}, proto, got)
			if err != nil {
				t.Fatal(err)
			}
			defer runWithSim(t, ctx, cancel, s, col)()
			if err := s.WaitSubscribed(ctx, trades); err != nil {
				t.Fatal(err)
			}
			wait := func(what string, cond func() bool) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for !cond() {
					if time.Now().After(deadline) {
						t.Fatalf("timed out waiting for %s", what)
					}
					time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
				}
			}
			if tc.channel == "" {
				wait("the refusal", func() bool { return col.Status().Streams[books.String()].Refused })
				// The connection goes on: trades made after the refusal
				// arrive on it.
				before, made := got.tradeCount(), len(s.Trades(market.Coinbase, sym))
				for i := 0; len(s.Trades(market.Coinbase, sym)) == made; i++ {
					if i == 100 {
						t.Fatal("the simulator made no trade in 100 steps")
					}
					if err := s.Step(ctx, 1); err != nil {
						t.Fatal(err)
					}
				}
				wait("the trades after the refusal", func() bool { return got.tradeCount() > before })
				st := col.Status()
				ss := st.Streams[books.String()]
				if ss.RefusedCode != "invalid signature" || ss.RefusedMessage != "Sorry, you could not be authenticated: Bad Request: invalid signature" {
					t.Errorf("book stream %+v, want refused with code invalid signature and the exchange's message", ss)
				}
				if st.Streams[trades.String()].Refused {
					t.Errorf("the trade stream is refused too")
				}
				if n := st.Anomalies[collector.AnomalySubscriptionRefused]; n != 1 {
					t.Errorf("%d subscription_refused anomalies, want 1", n)
				}
				if n := s.CoinbaseAuthRefusals(); n != 1 {
					t.Errorf("%d signed subscribes refused, want 1 (no resubscription loop)", n)
				}
				if n := s.Counts(market.Coinbase).Connects; n != 1 {
					t.Errorf("%d connects, want 1 (no redial loop)", n)
				}
				if ch := s.CoinbaseBookChannels(sym); len(ch) != 0 {
					t.Errorf("book channels %v subscribed after a refused signature", ch)
				}
				got.bookSink.mu.Lock()
				defer got.bookSink.mu.Unlock()
				if len(got.snaps) != 0 || len(got.gaps) != 0 {
					t.Errorf("%d snapshots and %d gaps without a book", len(got.snaps), len(got.gaps))
				}
				return
			}
			if err := s.WaitSubscribed(ctx, books); err != nil {
				t.Fatal(err)
			}
			if ch := s.CoinbaseBookChannels(sym); !slices.Equal(ch, []string{tc.channel}) {
				t.Fatalf("book channels %v, want [%s]", ch, tc.channel)
			}
			for round := range 3 {
				if err := s.Step(ctx, 3); err != nil {
					t.Fatal(err)
				}
				bids, asks, _, at, ok := s.Book(market.Coinbase, sym)
				if !ok {
					t.Fatal("the simulator has no book")
				}
				var d string
				wait(fmt.Sprintf("round %d: a snapshot at %s equal to the simulator's book", round, at), func() bool {
					got.bookSink.mu.Lock()
					defer got.bookSink.mu.Unlock()
					n := len(got.snaps)
					if n == 0 || !got.snaps[n-1].Time.Equal(at) {
						return false
					}
					last := got.snaps[n-1]
					d = diffLevels(last.Bids, bids[:min(depth, len(bids))]) + diffLevels(last.Asks, asks[:min(depth, len(asks))])
					return true
				})
				if d != "" {
					t.Fatalf("round %d: stored book differs from the simulator's at %s: %s", round, at, d)
				}
			}
			st := col.Status().Streams[books.String()]
			if st.Refused || !st.Subscribed || st.Book == nil || !st.Book.Synced {
				t.Errorf("book stream %+v, want subscribed and synced", st)
			}
		})
	}
}

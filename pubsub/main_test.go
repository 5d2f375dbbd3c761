package pubsub

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
	"marketetl/market"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// awaitTimeout bounds how long a test waits for a condition before failing.
const awaitTimeout = 30 * time.Second

// await polls cond until it holds, failing the test after awaitTimeout.
func await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(awaitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// testRedis returns a client of the test Redis server for the test's own
// commands, and a unique channel prefix whose keys are deleted at the end.
func testRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(dbtest.RedisURL())
	if err != nil {
		t.Fatalf("parse test Redis URL: %v", err)
	}
	c := redis.NewClient(opts)
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("test Redis at %s: %v", RedactURL(dbtest.RedisURL()), err)
	}
	prefix := dbtest.Unique("pubsubtest")
	t.Cleanup(func() {
		// The test's context has ended by now.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		keys, err := c.Keys(ctx, prefix+":*").Result()
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("delete test keys %s:*: %v", prefix, err)
		}
		_ = c.Close()
	})
	return c, prefix
}

// running is a Publisher whose Run goroutine the test owns.
type running struct {
	*Publisher
	cancel context.CancelFunc
	done   chan error
}

// start creates a Publisher for cfg and runs it until stop (or the end of
// the test).
func start(t testing.TB, cfg Config) *running {
	t.Helper()
	p, err := New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return run(t, p)
}

// run runs p until stop (or the end of the test).
func run(t testing.TB, p *Publisher) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{Publisher: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends Run, waits for it to return and returns the final status.
func (r *running) stop(t testing.TB) Status {
	t.Helper()
	r.cancel()
	if err, ok := <-r.done; ok {
		close(r.done)
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	}
	return r.Status()
}

// checkAccounting fails the test unless every offered record is accounted
// for, exactly.
func checkAccounting(t testing.TB, st Status, offered int) {
	t.Helper()
	var dropped uint64
	for _, n := range st.Dropped {
		dropped += n
	}
	if st.Offered != uint64(offered) || st.Published+dropped != st.Offered || st.Pending != 0 {
		t.Errorf("accounting: offered %d (want %d), published %d + dropped %d (%v) != offered, pending %d",
			st.Offered, offered, st.Published, dropped, st.Dropped, st.Pending)
	}
}

// message is one pub/sub message as a subscriber saw it.
type message struct {
	Channel, Payload string
}

// subscriber records the messages of a pattern subscription.
type subscriber struct {
	ps   *redis.PubSub
	done chan struct{}

	mu   sync.Mutex // guards msgs, err
	msgs []message
	err  error
}

// subscribe PSUBSCRIBEs to pattern and records messages until the end of
// the test. The subscription is confirmed when it returns.
func subscribe(t testing.TB, c *redis.Client, pattern string) *subscriber {
	t.Helper()
	ps := c.PSubscribe(t.Context(), pattern)
	if _, err := ps.Receive(t.Context()); err != nil {
		t.Fatalf("psubscribe %s: %v", pattern, err)
	}
	s := &subscriber{ps: ps, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			m, err := ps.ReceiveMessage(t.Context())
			if err != nil {
				// Closing the subscription at the end of the test ends
				// here too; sync reports an error seen before that.
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, message{Channel: m.Channel, Payload: m.Payload})
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ps.Close()
		<-s.done
	})
	return s
}

// messages returns a copy of what was received so far.
func (s *subscriber) messages() []message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]message(nil), s.msgs...)
}

func (s *subscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// sync publishes a marker on channel and waits until the subscriber has
// it: Redis delivers a subscriber's messages in order, so everything
// published before has arrived too. It returns the messages before the
// marker.
func (s *subscriber) sync(t testing.TB, c *redis.Client, channel string) []message {
	t.Helper()
	marker := dbtest.Unique("marker-")
	if err := c.Publish(t.Context(), channel, marker).Err(); err != nil {
		t.Fatalf("publish marker: %v", err)
	}
	var msgs []message
	await(t, "the marker message", func() bool {
		msgs = s.messages()
		for i, m := range msgs {
			if m.Payload == marker {
				msgs = msgs[:i]
				return true
			}
		}
		return false
	})
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	return msgs
}

// dec parses a decimal literal of a test.
func dec(t testing.TB, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("decimal %q: %v", s, err)
	}
	return d
}

func nullDec(t testing.TB, s string) decimal.NullDecimal {
	return decimal.NullDecimal{Decimal: dec(t, s), Valid: true}
}

// base is the time of the test records.
var base = time.Date(2026, 11, 24, 9, 0, 0, 123_000_000, time.UTC)

// meta returns the Meta of the i-th test record.
func meta(ex market.Exchange, sym market.Symbol, i int) market.Meta {
	at := base.Add(time.Duration(i) * time.Millisecond)
	return market.Meta{Exchange: ex, Symbol: sym, Time: at, Received: at.Add(7*time.Millisecond + time.Duration(i)*time.Nanosecond)}
}

// trade returns a distinct trade for each i.
func trade(t testing.TB, ex market.Exchange, sym market.Symbol, i int) *market.Trade {
	return &market.Trade{
		Meta:    meta(ex, sym, i),
		TradeID: strconv.Itoa(i),
		Price:   dec(t, fmt.Sprintf("%d.%d0", 42000+i%1000, i%10)),
		Size:    dec(t, "0.0010"),
		Side:    market.Buy,
	}
}

// everyType returns n records of each type on a few streams.
func everyType(t testing.TB, n int) []market.Record {
	var recs []market.Record
	for i := range n {
		recs = append(recs,
			trade(t, market.OKX, "BTC-USDT", i),
			&market.Ticker{
				Meta: meta(market.Coinbase, "BTC-USD", i),
				Last: nullDec(t, "42221.37"), Bid: nullDec(t, "42221.36"), BidSize: nullDec(t, "0.1487"),
				Ask: nullDec(t, fmt.Sprintf("42221.%d", 37+i%50)), AskSize: nullDec(t, "0.02"),
				Volume24h: nullDec(t, "10652.59434467"),
			},
			&market.Candle{
				Meta: meta(market.Binance, "BTC-USDT", i), Timeframe: market.TF1m,
				Open: dec(t, "42210.01"), High: dec(t, "42230"), Low: dec(t, "42205.5"),
				Close: dec(t, fmt.Sprintf("42219.%d", i%10)), Volume: dec(t, "18.40321"),
				QuoteVolume: nullDec(t, "776935.0216709"), Trades: int64(i), Closed: i%2 == 0,
			},
			&market.Candle{
				Meta: meta(market.OKX, "ETH-USDT", i), Timeframe: market.TF1h,
				Open: dec(t, "2250"), High: dec(t, "2260.5"), Low: dec(t, "2249.99"),
				Close: dec(t, "2255"), Volume: dec(t, strconv.Itoa(i)), Trades: -1,
			},
			&market.BookSnapshot{
				Meta:     meta(market.Binance, "ETH-USDT", i),
				Bids:     []market.Level{{Price: dec(t, "2250.41"), Size: dec(t, "12.5")}, {Price: dec(t, "2250.4"), Size: dec(t, "0.0133")}},
				Asks:     []market.Level{{Price: dec(t, "2250.42"), Size: dec(t, "3.1")}},
				Sequence: int64(41872390211 + i),
			},
			&market.Balance{
				Meta: meta(market.OKX, "BTC", i), Account: "spot",
				Free: dec(t, fmt.Sprintf("1.%d", i)), Locked: dec(t, "0.05"),
			},
		)
	}
	return recs
}

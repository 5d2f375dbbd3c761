package pubsub

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
	"marketetl/market"
)

func TestPublishEveryTypeOnItsChannel(t *testing.T) {
	c, prefix := testRedis(t)
	all := subscribe(t, c, prefix+":*")
	trades := subscribe(t, c, prefix+":*:trade:*")
	p := start(t, Config{URL: dbtest.RedisURL(), ChannelPrefix: prefix})

	recs := everyType(t, 50)
	for _, r := range recs {
		p.Publish(r)
	}
	await(t, "every record published", func() bool { return p.Status().Pending == 0 })
	st := p.stop(t)
	checkAccounting(t, st, len(recs))
	if st.Published != uint64(len(recs)) || !st.Connected && st.State != StateStopped {
		t.Fatalf("published %d of %d: %+v", st.Published, len(recs), st)
	}

	want := make([]message, len(recs))
	var wantTrades []message
	for i, r := range recs {
		want[i] = message{Channel: Channel(prefix, ChannelStream(r)), Payload: string(Encode(nil, r))}
		if r.DataType() == market.TypeTrade {
			wantTrades = append(wantTrades, want[i])
		}
	}
	// One sender on one connection: the order is the order of Publish.
	got := all.sync(t, c, prefix+":marker")
	if !slices.Equal(got, want) {
		t.Errorf("%s:* received %d messages, want %d; %s", prefix, len(got), len(want), firstDiff(got, want))
	}
	gotTrades := trades.sync(t, c, prefix+":x:trade:marker")
	if !slices.Equal(gotTrades, wantTrades) {
		t.Errorf("%s:*:trade:* received %d messages, want %d; %s", prefix, len(gotTrades), len(wantTrades), firstDiff(gotTrades, wantTrades))
	}

	// The documented channel names, and decimals byte for byte.
	channels := map[string]bool{}
	for _, m := range got {
		channels[m.Channel] = true
	}
	for _, ch := range []string{
		prefix + ":okx:trade:BTC-USDT", prefix + ":coinbase:ticker:BTC-USD",
		prefix + ":binance:candle.1m:BTC-USDT", prefix + ":okx:candle.1h:ETH-USDT",
		prefix + ":binance:book:ETH-USDT", prefix + ":okx:balance:spot",
	} {
		if !channels[ch] {
			t.Errorf("nothing received on %s; channels: %v", ch, channels)
		}
	}
	if len(got) > 0 && !strings.Contains(got[0].Payload, `"price":"42000.00","size":"0.0010"`) {
		t.Errorf("first trade payload %s: want the decimals with their own scale", got[0].Payload)
	}
}

// firstDiff describes where two message lists first differ.
func firstDiff(got, want []message) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return "#" + strconv.Itoa(i) + ": got " + got[i].Channel + " " + got[i].Payload +
				", want " + want[i].Channel + " " + want[i].Payload
		}
	}
	return "one list is a prefix of the other"
}

func TestBatchesBySizeOrAge(t *testing.T) {
	tests := []struct {
		name          string
		batchSize     int
		flushInterval time.Duration
		records       int
		// awaitBefore is how many records must be published before the
		// context ends; the rest goes out in the final flush.
		awaitBefore int
		wantBatches []int
	}{
		{name: "full batches, then the rest at shutdown", batchSize: 10, flushInterval: time.Hour, records: 25, awaitBefore: 20, wantBatches: []int{10, 10, 5}},
		{name: "a partial batch when the interval ends", batchSize: 1000, flushInterval: time.Millisecond, records: 7, awaitBefore: 7, wantBatches: []int{7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, prefix := testRedis(t)
			var mu sync.Mutex
			var batches []int
			var oldest []time.Time
			p, err := New(Config{
				URL: dbtest.RedisURL(), ChannelPrefix: prefix, BatchSize: tt.batchSize, FlushInterval: tt.flushInterval,
				OnPublish: func(n int, o time.Time) {
					mu.Lock()
					batches = append(batches, n)
					oldest = append(oldest, o)
					mu.Unlock()
				},
			}, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			// Queued before Run starts, so the batches do not depend on timing.
			for i := range tt.records {
				p.Publish(trade(t, market.OKX, "BTC-USDT", i))
			}
			r := run(t, p)
			await(t, "the first batches", func() bool { return p.Status().Published >= uint64(tt.awaitBefore) })
			st := r.stop(t)
			checkAccounting(t, st, tt.records)
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(batches, tt.wantBatches) || st.Batches != uint64(len(tt.wantBatches)) {
				t.Errorf("batches %v (%d), want %v", batches, st.Batches, tt.wantBatches)
			}
			// Each batch's oldest receipt time is its first record's.
			first := 0
			for i, n := range batches {
				if want := meta(market.OKX, "BTC-USDT", first).Received; !oldest[i].Equal(want) {
					t.Errorf("batch %d: oldest received %v, want %v", i, oldest[i], want)
				}
				first += n
			}
		})
	}
}

func TestQueueFullDropsAndCounts(t *testing.T) {
	_, prefix := testRedis(t)
	p, err := New(Config{URL: dbtest.RedisURL(), ChannelPrefix: prefix, QueueSize: 10}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		p.Publish(trade(t, market.OKX, "BTC-USDT", i))
	}
	st := p.Status()
	if st.Dropped[DropQueueFull] != 15 || st.Pending != 10 || st.State != StateConnecting || st.Connected {
		t.Fatalf("before Run: %+v, want 15 dropped (queue_full), 10 pending, connecting", st)
	}
	r := run(t, p)
	await(t, "the queue published", func() bool { return p.Status().Published == 10 })
	st = r.stop(t)
	checkAccounting(t, st, 25)
}

func TestPublishAfterRunReturnsIsDropped(t *testing.T) {
	_, prefix := testRedis(t)
	p := start(t, Config{URL: dbtest.RedisURL(), ChannelPrefix: prefix})
	p.Publish(trade(t, market.OKX, "BTC-USDT", 1))
	await(t, "the record published", func() bool { return p.Status().Published == 1 })
	p.stop(t)
	p.Publish(trade(t, market.OKX, "BTC-USDT", 2))
	p.Publish(nil) // ignored
	st := p.Status()
	checkAccounting(t, st, 2)
	if st.Dropped[DropShutdown] != 1 || st.State != StateStopped || st.Connected {
		t.Errorf("after Run: %+v, want 1 dropped (shutdown), stopped", st)
	}
	if err := p.Run(t.Context()); err == nil {
		t.Error("a second Run: want an error")
	}
}

func TestRunWithEndedContextDropsQueued(t *testing.T) {
	_, prefix := testRedis(t)
	p, err := New(Config{URL: dbtest.RedisURL(), ChannelPrefix: prefix}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Publish(trade(t, market.OKX, "BTC-USDT", 1))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := p.Status()
	checkAccounting(t, st, 1)
	if st.Dropped[DropRedisDown] != 1 {
		t.Errorf("%+v: want the record dropped (never connected)", st)
	}
}

// closedPort returns a 127.0.0.1 port nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func TestRedisUnreachableAtStart(t *testing.T) {
	const password = "s3cr3t-pw"
	url := "redis://:" + password + "@127.0.0.1:" + closedPort(t) + "/0"
	p, err := New(Config{URL: url, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New with Redis down: %v", err)
	}
	if st := p.Status(); st.Connected || st.State != StateConnecting {
		t.Fatalf("before Run: %+v, want not connected", st)
	}
	r := run(t, p)
	await(t, "Status to say Redis is down", func() bool { return p.Status().State == StateDown })
	for i := range 100 {
		p.Publish(trade(t, market.OKX, "BTC-USDT", i))
	}
	await(t, "every record dropped", func() bool { return p.Status().Pending == 0 })
	st := r.stop(t)
	checkAccounting(t, st, 100)
	if st.Dropped[DropRedisDown] != 100 || st.Published != 0 {
		t.Errorf("%+v: want 100 dropped (redis_down)", st)
	}
	if st.LastError == "" || strings.Contains(st.LastError, password) {
		t.Errorf("last error %q: want the connection error, without the password", st.LastError)
	}
}

func TestDropReasonsIndexed(t *testing.T) {
	reasons := DropReasons()
	if len(reasons) != numDropReasons {
		t.Fatalf("%d reasons, numDropReasons %d", len(reasons), numDropReasons)
	}
	for i, r := range reasons {
		if r.index() != i {
			t.Errorf("%s.index() = %d, want %d", r, r.index(), i)
		}
	}
}

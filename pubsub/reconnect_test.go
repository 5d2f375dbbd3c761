package pubsub

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"marketetl/dbtest"
	"marketetl/market"
)

// seqTrade returns the i-th trade of a producer: distinct, and rebuilt
// identically from i.
func seqTrade(i int) *market.Trade {
	at := base.Add(time.Duration(i) * time.Microsecond)
	return &market.Trade{
		Meta:    market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Time: at, Received: at.Add(time.Millisecond)},
		TradeID: strconv.Itoa(i),
		Price:   decimal.New(int64(4221990+i%1000), -2),
		Size:    decimal.New(int64(1+i%7), -3),
		Side:    market.Sell,
	}
}

// producer publishes seqTrade records from its own goroutine until stopped.
type producer struct {
	stopc   chan struct{}
	done    chan struct{}
	offered atomic.Int64
}

// produce starts a producer at a paced rate (the pace shapes the load; it
// synchronises nothing).
func produce(p *Publisher) *producer {
	pr := &producer{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-pr.stopc:
				return
			case <-tick.C:
			}
			for range 5 {
				p.Publish(seqTrade(i))
				i++
				pr.offered.Store(int64(i))
			}
		}
	}()
	return pr
}

func (pr *producer) stop() int {
	close(pr.stopc)
	<-pr.done
	return int(pr.offered.Load())
}

// checkDelivered checks what a subscriber got from a producer's run: no
// record twice, each byte-identical to what was published, at least every
// acknowledged one and at most those plus the ones whose command failed
// (which Redis may have run before the connection broke).
func checkDelivered(t *testing.T, msgs []message, prefix string, st Status) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range msgs {
		rec, err := Decode([]byte(m.Payload))
		if err != nil {
			t.Fatalf("received %s: %v", m.Payload, err)
		}
		tr, ok := rec.(*market.Trade)
		if !ok {
			t.Fatalf("received %T, want a trade", rec)
		}
		i, err := strconv.Atoi(tr.TradeID)
		if err != nil || uint64(i) >= st.Offered {
			t.Fatalf("received trade id %q: not one that was offered", tr.TradeID)
		}
		if want := string(Encode(nil, seqTrade(i))); m.Payload != want || m.Channel != prefix+":okx:trade:BTC-USDT" {
			t.Fatalf("received %s %s, want %s", m.Channel, m.Payload, want)
		}
		if seen[tr.TradeID] {
			t.Fatalf("trade %s received twice", tr.TradeID)
		}
		seen[tr.TradeID] = true
	}
	n := uint64(len(msgs))
	if n < st.Published || n > st.Published+st.Dropped[DropError] {
		t.Errorf("subscriber received %d; want between published %d and published + dropped (error) %d",
			n, st.Published, st.Published+st.Dropped[DropError])
	}
}

// clientIDs returns the ids of the connections named name (CLIENT LIST).
func clientIDs(t *testing.T, c *redis.Client, name string) []string {
	t.Helper()
	list, err := c.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatalf("client list: %v", err)
	}
	var ids []string
	for line := range strings.Lines(list) {
		var id string
		named := false
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch {
			case k == "id":
				id = v
			case k == "name" && v == name:
				named = true
			}
		}
		if named {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestReconnectsAfterClientKill(t *testing.T) {
	c, prefix := testRedis(t)
	sub := subscribe(t, c, prefix+":*")
	name := dbtest.Unique("marketetl-publisher-")
	p := start(t, Config{
		URL: dbtest.RedisURL(), ChannelPrefix: prefix, ClientName: name,
		RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	})
	pr := produce(p.Publisher)
	stopped := false
	defer func() {
		if !stopped {
			pr.stop()
		}
	}()

	const rounds, perRound = 3, 300
	var killed []string
	for round := range rounds {
		target := p.Status().Published + perRound
		await(t, "records published", func() bool { return p.Status().Published >= target })
		ids := clientIDs(t, c, name)
		if len(ids) == 0 {
			t.Fatalf("round %d: no connection named %s in CLIENT LIST", round, name)
		}
		for _, id := range ids {
			if err := c.Do(t.Context(), "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatalf("client kill id %s: %v", id, err)
			}
		}
		killed = append(killed, ids...)
		after := p.Status().Published + perRound
		await(t, "a new connection and publishing resumed", func() bool {
			fresh := slices.ContainsFunc(clientIDs(t, c, name), func(id string) bool { return !slices.Contains(killed, id) })
			return fresh && p.Status().Published >= after
		})
	}
	offered := pr.stop()
	stopped = true
	st := p.stop(t)
	checkAccounting(t, st, offered)
	checkDelivered(t, sub.sync(t, c, prefix+":marker"), prefix, st)
	t.Logf("offered %d, published %d, dropped %v, reconnects %d, batches %d",
		st.Offered, st.Published, st.Dropped, st.Reconnects, st.Batches)
}

// relayURL is the Redis URL of a relay.
func relayURL(r *dbtest.Relay) string { return "redis://" + r.Addr() + "/0" }

func TestRedisGoesAwayAndComesBack(t *testing.T) {
	c, prefix := testRedis(t)
	sub := subscribe(t, c, prefix+":*")
	rl := dbtest.NewRelay(t, c.Options().Addr)
	p := start(t, Config{
		URL: relayURL(rl), ChannelPrefix: prefix,
		RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond,
	})
	i := 0
	publish := func(n int) {
		for range n {
			p.Publish(seqTrade(i))
			i++
		}
		await(t, "the records' outcome", func() bool { return p.Status().Pending == 0 })
	}

	publish(100)
	if st := p.Status(); st.Published != 100 || !st.Connected {
		t.Fatalf("with Redis up: %+v", st)
	}

	// The connection breaks after a pipeline was sent, before its
	// replies. The sender writes as soon as a record is queued, so the 10
	// records may span pipelines: the broken one's fail (error), those
	// offered while Redis was down are dropped (redis_down), those queued
	// meanwhile go out on the new connection.
	rl.CutAfterNextWrite()
	publish(10)
	await(t, "the publisher to reconnect after the broken pipeline", func() bool {
		st := p.Status()
		return st.Connected && st.Reconnects == 1
	})
	st := p.Status()
	if failed, down := st.Dropped[DropError], st.Dropped[DropRedisDown]; failed < 1 || failed+down+st.Published != 110 ||
		st.Reconnects != 1 || st.LastError == "" {
		t.Fatalf("after a connection broke mid-pipeline: %+v, want the broken pipeline's records failed (error), the 10 accounted for, 1 reconnect", st)
	}
	published := st.Published
	publish(100)
	if st := p.Status(); st.Published != published+100 {
		t.Fatalf("after the broken pipeline: %+v, want %d published", st, published+100)
	}

	rl.Close()
	// The publisher learns that Redis is gone from its next batch.
	for p.Status().State != StateDown {
		publish(1)
		if i > 10_000 {
			t.Fatalf("Redis down: the publisher still says %s", p.Status().State)
		}
	}
	before := p.Status().Dropped[DropRedisDown]
	publish(50)
	if st := p.Status(); st.Dropped[DropRedisDown] != before+50 || st.Connected {
		t.Fatalf("while Redis is down: %+v, want 50 more dropped (redis_down)", st)
	}
	rl.Reopen()
	await(t, "the publisher to reconnect", func() bool { return p.Status().Connected })
	published = p.Status().Published
	publish(100)
	st = p.stop(t)
	if st.Published != published+100 || st.Reconnects != 2 {
		t.Errorf("after Redis came back: %+v, want 100 more published and 2 reconnects", st)
	}
	checkAccounting(t, st, i)
	checkDelivered(t, sub.sync(t, c, prefix+":marker"), prefix, st)
}

package pubsub

import (
	"slices"
	"strings"
	"testing"
	"time"

	"marketetl/dbtest"
	"marketetl/market"
)

// TestCommandErrorsInTheMiddleOfAPipeline: in one pipeline, every other
// record goes to a channel and a stream the user may not write (NOPERM):
// exactly those records fail (error) and their XADDs count as stream
// errors, the others are published and streamed, the connection stays up,
// and the subscriber gets exactly the allowed records, in order.
func TestCommandErrorsInTheMiddleOfAPipeline(t *testing.T) {
	admin, prefix := testRedis(t)
	url, _, _ := aclUser(t, admin, 0, "resetkeys", "~"+prefix+":stream:*ETH*", "resetchannels", "&"+prefix+":*ETH*", "+@all")
	sub := subscribe(t, admin, prefix+":*")
	p, err := New(Config{URL: url, ChannelPrefix: prefix, StreamMaxLen: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var want []message
	for i := range 2 * n { // queued before Run: one pipeline
		tr := seqTrade(i)
		if i%2 == 1 {
			tr.Symbol = "ETH-USDT"
			want = append(want, message{Channel: Channel(prefix, tr.Stream()), Payload: string(Encode(nil, tr))})
		}
		p.Publish(tr)
	}
	r := run(t, p)
	await(t, "every record's outcome", func() bool { return p.Status().Pending == 0 })
	if st := p.Status(); !st.Connected || !strings.Contains(st.LastError, "NOPERM") {
		t.Errorf("%+v: want connected, the refusal as last error", st)
	}
	st := r.stop(t)
	checkAccounting(t, st, 2*n)
	if st.Batches != 1 || st.Published != n || st.Dropped[DropError] != n || st.Streamed != n || st.StreamErrors != n || st.Reconnects != 0 {
		t.Errorf("%+v: want 1 pipeline, %d published and streamed, %d failed (error) with as many stream errors, no reconnect", st, n, n)
	}
	if got := sub.sync(t, admin, prefix+":ETH:marker"); !slices.Equal(got, want) {
		t.Errorf("received %d messages, want %d; %s", len(got), len(want), firstDiff(got, want))
	}
	if got, err := admin.XLen(t.Context(), StreamKey(prefix, market.Stream{Exchange: market.OKX, Type: market.TypeTrade, Symbol: "ETH-USDT"})).Result(); err != nil || got != n {
		t.Errorf("the ETH stream holds %d entries (%v), want %d", got, err, n)
	}
}

// TestConnectionKilledWithPipelinesInFlight kills the publisher's
// connection (CLIENT KILL) while every pipeline awaits its replies (a
// relay delays every packet) and more records wait behind them: the
// pipelines in flight fail (error), the one the reader was waiting for
// and those behind it, nothing is counted twice or lost, and the waiting
// records go out on a new connection.
func TestConnectionKilledWithPipelinesInFlight(t *testing.T) {
	admin, prefix := testRedis(t)
	sub := subscribe(t, admin, prefix+":*")
	rl := dbtest.NewRelay(t, admin.Options().Addr)
	name := dbtest.Unique("marketetl-publisher-")
	p := start(t, Config{
		URL: relayURL(rl), ChannelPrefix: prefix, ClientName: name, BatchSize: 50,
		RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, IOTimeout: 10 * time.Second,
	})
	await(t, "the publisher to connect", func() bool { return p.Status().Connected })
	// The fault: a slow link (a round trip of a second), so that replies
	// are still to come when the connection is killed.
	rl.SetLatency(500 * time.Millisecond)
	i := 0
	// One record per pipeline, until every pipeline is in flight.
	for ; i < maxInFlight; i++ {
		p.Publish(seqTrade(i))
		await(t, "the record's pipeline written", func() bool { return p.Status().Batches == uint64(i+1) })
	}
	// These wait: the writer has no free pipeline.
	const waiting = 400
	for range waiting {
		p.Publish(seqTrade(i))
		i++
	}
	ids := clientIDs(t, admin, name)
	if len(ids) != 1 {
		t.Fatalf("connections named %s: %v, want one", name, ids)
	}
	if err := admin.Do(t.Context(), "CLIENT", "KILL", "ID", ids[0]).Err(); err != nil {
		t.Fatalf("client kill: %v", err)
	}
	rl.SetLatency(0)
	await(t, "every record's outcome", func() bool { return p.Status().Pending == 0 })
	st := p.stop(t)
	checkAccounting(t, st, i)
	// At least the pipeline the reader was waiting for and one behind it
	// (all four unless the machine stalled for a second).
	if st.Dropped[DropError] < 2 || st.Published < waiting || st.Reconnects != 1 {
		t.Errorf("%+v: want at least 2 failed (error), the %d waiting published, 1 reconnect", st, waiting)
	}
	checkDelivered(t, sub.sync(t, admin, prefix+":marker"), prefix, st)
}

// TestReplyLaterThanIOTimeout: replies that do not come within IOTimeout
// mean a broken connection: the records in flight fail (error), Redis is
// down until a new connection answers in time.
func TestReplyLaterThanIOTimeout(t *testing.T) {
	admin, prefix := testRedis(t)
	rl := dbtest.NewRelay(t, admin.Options().Addr)
	p := start(t, Config{
		URL: relayURL(rl), ChannelPrefix: prefix, IOTimeout: 100 * time.Millisecond,
		RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond,
	})
	await(t, "the publisher to connect", func() bool { return p.Status().Connected })
	// The fault: replies take 2 × 200 ms to come back.
	rl.SetLatency(200 * time.Millisecond)
	for i := range 10 {
		p.Publish(seqTrade(i))
	}
	await(t, "every record's outcome and Redis down", func() bool {
		st := p.Status()
		return st.Pending == 0 && st.State == StateDown
	})
	// The records in flight fail (error); those still queued when the
	// next connection's handshake timed out too are dropped (redis_down).
	if st := p.Status(); st.Dropped[DropError] < 1 || st.Dropped[DropError]+st.Dropped[DropRedisDown] != 10 || st.Published != 0 ||
		st.State != StateDown || !strings.Contains(st.LastError, "timeout") {
		t.Fatalf("%+v: want the records in flight failed (error), none published, Redis down after a timeout", st)
	}
	rl.SetLatency(0)
	await(t, "the publisher to reconnect", func() bool { return p.Status().Connected })
	p.Publish(seqTrade(10))
	await(t, "the last record published", func() bool { return p.Status().Published == 1 })
	checkAccounting(t, p.stop(t), 11)
}

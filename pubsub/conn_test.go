package pubsub

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"marketetl/dbtest"
	"marketetl/market"
)

// testOptions returns the connection settings of the test Redis server.
func testOptions(t testing.TB) *redis.Options {
	t.Helper()
	opts, err := redis.ParseURL(dbtest.RedisURL())
	if err != nil {
		t.Fatalf("parse test Redis URL: %v", err)
	}
	return opts
}

// TestRESPFramingIsBinarySafe writes values that look like RESP, hold
// NUL and non-UTF-8 bytes, or are larger than the reply buffer, through
// the connection's own framing, reads them back through its reply reader
// (a bulk reply larger than the buffer, then the replies after it) and
// checks with an independent client that Redis stored each byte for byte.
func TestRESPFramingIsBinarySafe(t *testing.T) {
	admin, prefix := testRedis(t)
	big := bytes.Repeat([]byte("\r\n$-1\r\n*2\r\n\x00\xff"), (1<<20)/12)
	values := []struct {
		name  string
		value []byte
	}{
		{"empty", []byte{}},
		{"looks like RESP", []byte("+OK\r\n$3\r\nfoo\r\n:1\r\n")},
		{"NUL and non-UTF-8 bytes", []byte{0, 0xff, 0xfe, '\r', 0x80, '\n', 0}},
		{"1 MiB, larger than the reply buffer", big},
	}
	c, err := dial(t.Context(), testOptions(t), "", 5*time.Second, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer func() { _ = c.close() }()
	var buf []byte
	for i, v := range values {
		buf = appendCommand(buf, "SET", fmt.Sprintf("%s:v%d", prefix, i), string(v.value))
	}
	for i := range values {
		buf = appendCommand(buf, "GET", fmt.Sprintf("%s:v%d", prefix, i))
	}
	buf = appendCommand(buf, "PING")
	if err := c.write(buf, 5*time.Second); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := c.nc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var kinds []byte
	for range 2*len(values) + 1 {
		kind, text, err := c.readReply()
		if err != nil {
			t.Fatalf("reply %d: %v", len(kinds), err)
		}
		if kind == '-' {
			t.Fatalf("reply %d: error %s", len(kinds), text)
		}
		kinds = append(kinds, kind)
	}
	if want := []byte("++++$$$$+"); !bytes.Equal(kinds, want) {
		t.Errorf("reply types %q, want %q", kinds, want)
	}
	for i, v := range values {
		got, err := admin.Get(t.Context(), fmt.Sprintf("%s:v%d", prefix, i)).Bytes()
		if err != nil {
			t.Fatalf("%s: get: %v", v.name, err)
		}
		if !bytes.Equal(got, v.value) {
			t.Errorf("%s: Redis holds %d bytes, want the %d written", v.name, len(got), len(v.value))
		}
	}
}

// bigBook returns a book snapshot of n levels a side: a payload of over
// 40·n bytes.
func bigBook(i, n int) *market.BookSnapshot {
	b := &market.BookSnapshot{Meta: meta(market.Binance, "ETH-USDT", i), Sequence: int64(i)}
	for k := range n {
		b.Bids = append(b.Bids, market.Level{Price: decimal.New(int64(225000-k), -2), Size: decimal.New(int64(k+1), -4)})
		b.Asks = append(b.Asks, market.Level{Price: decimal.New(int64(225001+k), -2), Size: decimal.New(int64(k+3), -3)})
	}
	return b
}

// TestLargePayloadsArriveWhole publishes payloads of over 400 kB between
// small ones, in one pipeline, with streams on: each message and stream
// entry arrives byte for byte, in order.
func TestLargePayloadsArriveWhole(t *testing.T) {
	c, prefix := testRedis(t)
	sub := subscribe(t, c, prefix+":*")
	recs := []market.Record{seqTrade(1), bigBook(1, 12_000), seqTrade(2), bigBook(2, 15_000), seqTrade(3)}
	p, err := New(Config{URL: dbtest.RedisURL(), ChannelPrefix: prefix, StreamMaxLen: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs { // queued before Run: one pipeline
		p.Publish(r)
	}
	r := run(t, p)
	await(t, "every record's outcome", func() bool { return p.Status().Pending == 0 })
	st := r.stop(t)
	checkAccounting(t, st, len(recs))
	if st.Published != uint64(len(recs)) || st.Streamed != uint64(len(recs)) || st.Batches != 1 {
		t.Fatalf("%+v: want %d published and streamed in one pipeline", st, len(recs))
	}
	var want []message
	for _, r := range recs {
		want = append(want, message{Channel: Channel(prefix, r.Stream()), Payload: string(Encode(nil, r))})
	}
	if len(want[1].Payload) < 400_000 {
		t.Fatalf("the big payload has %d bytes: want over 400 kB", len(want[1].Payload))
	}
	got := sub.sync(t, c, prefix+":marker")
	if !slices.Equal(got, want) {
		t.Errorf("received %d messages, want %d; %s", len(got), len(want), firstDiffShort(got, want))
	}
	entries, err := c.XRange(t.Context(), StreamKey(prefix, recs[1].Stream()), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Values[StreamField] != want[1].Payload || entries[1].Values[StreamField] != want[3].Payload {
		t.Errorf("the book's stream holds %d entries, want the 2 big payloads byte for byte", len(entries))
	}
}

// firstDiffShort is firstDiff without whole payloads.
func firstDiffShort(got, want []message) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("#%d: got %s (%d bytes), want %s (%d bytes)", i, got[i].Channel, len(got[i].Payload), want[i].Channel, len(want[i].Payload))
		}
	}
	return "one list is a prefix of the other"
}

// aclUser creates a Redis user for the test (deleted at its end) with
// the given ACL rules, and returns a URL that logs in as it, on database
// db.
func aclUser(t *testing.T, admin *redis.Client, db int, rules ...string) (url, user, password string) {
	t.Helper()
	user, password = dbtest.Unique("pubsubtest"), dbtest.Unique("pw")
	args := []any{"ACL", "SETUSER", user, "on", ">" + password}
	for _, r := range rules {
		args = append(args, r)
	}
	if err := admin.Do(t.Context(), args...).Err(); err != nil {
		t.Skipf("this Redis has no ACL users: %v", err)
	}
	t.Cleanup(func() {
		// The test's context has ended by now.
		if err := admin.Do(context.WithoutCancel(t.Context()), "ACL", "DELUSER", user).Err(); err != nil {
			t.Errorf("acl deluser %s: %v", user, err)
		}
	})
	return fmt.Sprintf("redis://%s:%s@%s/%d", user, password, admin.Options().Addr, db), user, password
}

// TestAuthWithUserAndPassword logs in as an ACL user (AUTH user password):
// the connection is that user's, named, and publishes. A wrong password
// keeps Redis down, and the status never shows the password.
func TestAuthWithUserAndPassword(t *testing.T) {
	admin, prefix := testRedis(t)
	url, user, password := aclUser(t, admin, 0, "~"+prefix+":*", "resetchannels", "&"+prefix+":*", "+@all")
	name := dbtest.Unique("marketetl-publisher-")
	sub := subscribe(t, admin, prefix+":*")
	p := start(t, Config{URL: url, ChannelPrefix: prefix, ClientName: name})
	p.Publish(seqTrade(1))
	await(t, "the record published", func() bool { return p.Status().Published == 1 })
	list, err := admin.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for line := range strings.Lines(list) {
		if strings.Contains(line, " name="+name+" ") {
			found = true
			if !strings.Contains(line, " user="+user+" ") {
				t.Errorf("the publisher's connection is not %s's: %s", user, line)
			}
		}
	}
	if !found {
		t.Errorf("no connection named %s", name)
	}
	checkAccounting(t, p.stop(t), 1)
	if got := sub.sync(t, admin, prefix+":marker"); len(got) != 1 {
		t.Errorf("received %d messages, want 1", len(got))
	}

	wrong := strings.Replace(url, password, "not-"+password, 1)
	q := start(t, Config{URL: wrong, ChannelPrefix: prefix, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	await(t, "Status to say Redis is down", func() bool { return q.Status().State == StateDown })
	st := q.stop(t)
	if !strings.Contains(st.LastError, "WRONGPASS") || strings.Contains(st.LastError, password) {
		t.Errorf("last error %q: want WRONGPASS, without the password", st.LastError)
	}
}

// TestSelectDatabaseWithStreams publishes with streams on to a database
// other than 0: the stream is there, and not in database 0.
func TestSelectDatabaseWithStreams(t *testing.T) {
	admin, prefix := testRedis(t)
	const db = 7
	opts := testOptions(t)
	opts.DB = db
	other := redis.NewClient(opts)
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		keys, err := other.Keys(ctx, prefix+":*").Result()
		if err == nil && len(keys) > 0 {
			err = other.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("delete test keys of database %d: %v", db, err)
		}
		_ = other.Close()
	})
	url, _, _ := aclUser(t, admin, db, "~"+prefix+":*", "resetchannels", "&"+prefix+":*", "+@all")
	p := start(t, Config{URL: url, ChannelPrefix: prefix, StreamMaxLen: 100})
	const n = 20
	for i := range n {
		p.Publish(seqTrade(i))
	}
	await(t, "every record's outcome", func() bool { return p.Status().Pending == 0 })
	st := p.stop(t)
	checkAccounting(t, st, n)
	if st.Published != n || st.Streamed != n {
		t.Fatalf("%+v: want %d published and streamed", st, n)
	}
	key := StreamKey(prefix, seqTrade(0).Stream())
	if got, err := other.XLen(t.Context(), key).Result(); err != nil || got != n {
		t.Errorf("database %d: %s holds %d entries (%v), want %d", db, key, got, err, n)
	}
	if got, err := admin.Exists(t.Context(), key).Result(); err != nil || got != 0 {
		t.Errorf("database 0 has %s (%d, %v): want it only in database %d", key, got, err, db)
	}
}

// TestUserWithoutClientPermission: a user allowed PUBLISH and nothing
// else (CLIENT SETNAME refused) still publishes, on an unnamed
// connection.
func TestUserWithoutClientPermission(t *testing.T) {
	admin, prefix := testRedis(t)
	url, _, _ := aclUser(t, admin, 0, "resetchannels", "&"+prefix+":*", "-@all", "+publish")
	p := start(t, Config{URL: url, ChannelPrefix: prefix})
	p.Publish(seqTrade(1))
	await(t, "the record published", func() bool { return p.Status().Published == 1 })
	checkAccounting(t, p.stop(t), 1)
}

package pubsub

import (
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"marketetl/dbtest"
	"marketetl/market"
)

// TestRefusedBatchThenPublished: the sender keeps its PUBLISH commands
// from batch to batch; after a batch Redis refused command by command
// (here a user not allowed on those channels: NOPERM, the connection stays
// up), the next batch's commands carry its own channels and outcomes, not
// the previous batch's: it is published and counted in full.
func TestRefusedBatchThenPublished(t *testing.T) {
	admin, prefix := testRedis(t)
	user, pw := dbtest.Unique("pubsubtest"), dbtest.Unique("pw")
	if err := admin.Do(t.Context(), "ACL", "SETUSER", user, "on", ">"+pw, "~*", "resetchannels", "&"+prefix+"*ETH*", "+@all").Err(); err != nil {
		t.Skipf("this Redis has no ACL users: %v", err)
	}
	t.Cleanup(func() { admin.Do(t.Context(), "ACL", "DELUSER", user) })
	opts, err := redis.ParseURL(dbtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("redis://%s:%s@%s/%d", user, pw, opts.Addr, opts.DB)
	p, err := New(Config{URL: url, ChannelPrefix: prefix, BatchSize: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, p)
	await(t, "the publisher to connect", func() bool { return p.Status().Connected })
	const n = 50
	publish := func(sym market.Symbol) {
		for i := range n {
			tr := seqTrade(i)
			tr.Symbol = sym
			p.Publish(tr)
		}
		await(t, "every outcome", func() bool { return p.Status().Pending == 0 })
	}
	publish("BTC-USDT") // refused: NOPERM
	if st := p.Status(); st.Published != 0 || st.Dropped[DropError] != n || !st.Connected {
		t.Fatalf("after the refused batch: published %d, dropped %v, connected %v; want 0, %d errors, connected",
			st.Published, st.Dropped, st.Connected, n)
	}
	publish("ETH-USDT")
	st := r.stop(t)
	if st.Published != n || st.Dropped[DropError] != n {
		t.Fatalf("published %d, dropped %v; want %d published after %d refused", st.Published, st.Dropped, n, n)
	}
}

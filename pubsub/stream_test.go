package pubsub

import (
	"testing"

	"marketetl/dbtest"
	"marketetl/market"
)

func TestStreamKeepsRecordsForCatchUp(t *testing.T) {
	tests := []struct {
		name    string
		maxLen  int64
		records int // per stream
		// trimmed: far more records than MAXLEN, so Redis must have
		// trimmed (it trims whole internal nodes, hence "about").
		trimmed bool
	}{
		{name: "every record kept", maxLen: 1000, records: 300},
		{name: "trimmed to about MAXLEN", maxLen: 50, records: 600, trimmed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, prefix := testRedis(t)
			p := start(t, Config{URL: dbtest.RedisURL(), ChannelPrefix: prefix, StreamMaxLen: tt.maxLen, BatchSize: 64})
			streams := map[string][]string{} // key → payloads, in publishing order
			for i := range tt.records {
				for _, rec := range []market.Record{seqTrade(i), trade(t, market.Binance, "ETH-USDT", i)} {
					p.Publish(rec)
					key := StreamKey(prefix, rec.Stream())
					streams[key] = append(streams[key], string(Encode(nil, rec)))
				}
			}
			await(t, "every record published", func() bool { return p.Status().Pending == 0 })
			st := p.stop(t)
			checkAccounting(t, st, 2*tt.records)
			if st.Published != uint64(2*tt.records) || st.Streamed != st.Published || st.StreamErrors != 0 {
				t.Fatalf("%+v: want every record published and streamed", st)
			}
			for key, want := range streams {
				// A consumer catching up from id 0.
				entries, err := c.XRange(t.Context(), key, "0", "+").Result()
				if err != nil {
					t.Fatalf("xrange %s: %v", key, err)
				}
				n := len(entries)
				if int64(n) < min(tt.maxLen, int64(len(want))) || n > len(want) {
					t.Fatalf("%s holds %d entries; want at least %d and at most %d", key, n, min(tt.maxLen, int64(len(want))), len(want))
				}
				if tt.trimmed == (n == len(want)) {
					t.Fatalf("%s holds %d of %d entries: trimmed %v, want %v", key, n, len(want), n < len(want), tt.trimmed)
				}
				// What is kept is the newest records, in order.
				tail := want[len(want)-n:]
				for i, e := range entries {
					if len(e.Values) != 1 || e.Values[StreamField] != tail[i] {
						t.Fatalf("%s entry %d (%s): %v, want {%s: %s}", key, i, e.ID, e.Values, StreamField, tail[i])
					}
				}
			}
		})
	}
}

func TestStreamOffByDefault(t *testing.T) {
	c, prefix := testRedis(t)
	p := start(t, Config{URL: dbtest.RedisURL(), ChannelPrefix: prefix})
	p.Publish(seqTrade(1))
	await(t, "the record published", func() bool { return p.Status().Published == 1 })
	st := p.stop(t)
	n, err := c.Exists(t.Context(), StreamKey(prefix, seqTrade(1).Stream())).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || st.Streamed != 0 {
		t.Errorf("stream exists (%d) or streamed %d: want no stream without StreamMaxLen", n, st.Streamed)
	}
}

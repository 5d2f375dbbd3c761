package pubsub

import (
	"bytes"
	"testing"

	"marketetl/dbtest"
	"marketetl/market"
)

// TestEncodeBatchChannels: each record of a pipeline is published on its
// own stream's channel, also when streams alternate, repeat after others
// and a balance (on its account's channel) comes in between.
func TestEncodeBatchChannels(t *testing.T) {
	p, err := New(Config{URL: dbtest.RedisURL(), ChannelPrefix: "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(p)
	var recs []market.Record
	for i, sym := range []market.Symbol{"BTC-USDT", "BTC-USDT", "ETH-USDT", "BTC-USDT", "", "SOL-USDT", "SOL-USDT", "ETH-USDT"} {
		if sym == "" {
			recs = append(recs, &market.Balance{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT"}, Account: "spot"})
			continue
		}
		tr := seqTrade(i)
		tr.Symbol = sym
		recs = append(recs, tr)
	}
	for round := range 2 { // the second from the cache
		b := &batch{recs: recs}
		s.encode(b)
		var want []byte
		for _, rec := range recs {
			want = appendBulk(appendBulk(appendHeader(want, '*', 3), "PUBLISH"), Channel("x", ChannelStream(rec)))
			want = appendBulk(want, Encode(nil, rec))
		}
		if !bytes.Equal(s.buf, want) {
			t.Fatalf("round %d: pipeline\n%q\nwant\n%q", round, s.buf, want)
		}
	}
}

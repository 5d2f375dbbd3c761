package pubsub

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap/zaptest"

	"marketetl/book"
	"marketetl/dbtest"
	"marketetl/market"
)

// TestEncodeBookFromLocalBook encodes the top 2 levels of a local book:
// best first, the exchange's decimals, the sequence and time of the last
// applied update.
func TestEncodeBookFromLocalBook(t *testing.T) {
	d := decimal.RequireFromString
	b := book.New()
	err := b.Load(
		[]market.Level{{Price: d("2250.40"), Size: d("0.0133")}, {Price: d("2250.41"), Size: d("12.5")}, {Price: d("2250.35"), Size: d("4")}},
		[]market.Level{{Price: d("2250.50"), Size: d("0.42")}, {Price: d("2250.42"), Size: d("3.10")}})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Apply([]market.BookChange{{Side: market.Bid, Price: d("2250.41"), Size: d("12.6")}})
	if err != nil {
		t.Fatal(err)
	}
	b.Sequence, b.Time = 41872390212, time.Date(2026, 11, 24, 9, 0, 2, 350e6, time.UTC)
	snap := b.Snapshot(market.Meta{Exchange: market.Binance, Symbol: "ETH-USDT", Received: b.Time.Add(2 * time.Millisecond)}, 2)
	got := string(Encode(nil, snap))
	want := `{"v":1,"type":"book","exchange":"binance","symbol":"ETH-USDT","ts":"2026-11-24T09:00:02.350000000Z","received_at":"2026-11-24T09:00:02.352000000Z",` +
		`"bids":[["2250.41","12.6"],["2250.40","0.0133"]],"asks":[["2250.42","3.10"],["2250.50","0.42"]],"sequence":41872390212}`
	if got != want {
		t.Errorf("payload\n%s\nwant\n%s", got, want)
	}
	if ch := Channel("md", snap.Stream()); ch != "md:binance:book:ETH-USDT" {
		t.Errorf("channel %s", ch)
	}
}

// TestPublishIgnoresBookUpdates: level changes are not offered to the
// live feed at all.
func TestPublishIgnoresBookUpdates(t *testing.T) {
	p, err := New(Config{URL: dbtest.RedisURL(), ChannelPrefix: "md"}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	u := &market.BookUpdate{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT"}, Sequence: 1}
	p.Publish(u)
	p.Publish(&market.BookSnapshot{Meta: u.Meta})
	if st := p.Status(); st.Offered != 1 || st.Pending != 1 {
		t.Errorf("offered %d, pending %d; want the snapshot alone", st.Offered, st.Pending)
	}
}

package okx

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/market"
)

// TestDecodeBooks: the documented books frames decode into exact book
// messages (levels with the exchange's decimals, seqId chain, checksum).
func TestDecodeBooks(t *testing.T) {
	a := newAdapter(t, Config{})
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "ws", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var ev collector.Event
	if err := a.Decode(read("books_snapshot.json"), time.Now(), &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Books) != 1 || len(ev.Records) != 0 {
		t.Fatalf("snapshot: %d books %d records", len(ev.Books), len(ev.Records))
	}
	m := ev.Books[0]
	if !m.Snapshot || m.Symbol != "BTC-USDT" || m.Seq != 123456 || m.Prev != -1 || m.Checksum != -855196043 ||
		!m.Time.Equal(time.UnixMilli(1597026383085)) || len(m.Changes) != 0 ||
		len(m.Asks) != 1 || m.Asks[0].Price.String() != "8476.98" || m.Asks[0].Size.String() != "415" ||
		len(m.Bids) != 1 || m.Bids[0].Price.String() != "8476.97" || m.Bids[0].Size.String() != "256" {
		t.Fatalf("snapshot message %+v", m)
	}
	ev.Reset()
	if err := a.Decode(read("books_update.json"), time.Now(), &ev); err != nil {
		t.Fatal(err)
	}
	m = ev.Books[0]
	if m.Snapshot || m.Seq != 123457 || m.Prev != 123456 || m.Checksum != 123 || len(m.Changes) != 1 ||
		m.Changes[0].Side != market.Ask || !m.Changes[0].Size.IsZero() || !m.Changes[0].Price.Equal(decimal.RequireFromString("8476.98")) {
		t.Fatalf("update message %+v", m)
	}
	for _, bad := range []struct{ frame, field string }{
		{`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.98"]],"bids":[],"ts":"1","prevSeqId":1,"seqId":2}]}`, "asks"},
		{`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","prevSeqId":1}]}`, "seqId"},
		{`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[[8476.98,"1"]],"bids":[],"ts":"1","prevSeqId":1,"seqId":2}]}`, "asks.price"},
	} {
		ev.Reset()
		err := a.Decode([]byte(bad.frame), time.Now(), &ev)
		de, ok := err.(*collector.DecodeError)
		if !ok || de.Field != bad.field || len(ev.Books) != 0 {
			t.Errorf("%s: err %v books %d; want a decode error on field %s", bad.frame, err, len(ev.Books), bad.field)
		}
	}
}

// TestBooksSubscribe: an orderbook stream subscribes OKX's books channel
// on the public connection.
func TestBooksSubscribe(t *testing.T) {
	a := newAdapter(t, Config{})
	s := market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeOrderBook}
	plans, err := a.Plan([]market.Stream{s})
	if err != nil || len(plans) != 1 || plans[0].Key != keyPublic {
		t.Fatalf("plan %+v %v", plans, err)
	}
	frames, err := a.Subscribe(plans[0], []market.Stream{s}, 1)
	if err != nil || len(frames) != 1 {
		t.Fatalf("subscribe %q %v", frames, err)
	}
	if want := `{"id":"1","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`; string(frames[0]) != want {
		t.Fatalf("subscribe frame %s, want %s", frames[0], want)
	}
}

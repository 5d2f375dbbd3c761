package coinbase

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/credentials"
	"marketetl/market"
)

// TestDecodeLevel2: the documented snapshot and l2update decode into exact
// book messages; broken ones are refused with their field.
func TestDecodeLevel2(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rcv := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	read := func(f string) []byte {
		b, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var ev collector.Event
	if err := a.Decode(read("snapshot.json"), rcv, &ev); err != nil {
		t.Fatal(err)
	}
	m := ev.Books[0]
	if len(ev.Books) != 1 || !m.Snapshot || m.Symbol != "BTC-USD" || !m.Time.Equal(rcv) || len(m.Bids) != 1 || len(m.Asks) != 1 ||
		m.Bids[0].Price.String() != "10101.1" || m.Bids[0].Price.Exponent() != -2 || m.Bids[0].Size.String() != "0.4505414" || m.Bids[0].Size.Exponent() != -8 ||
		m.Asks[0].Price.String() != "10102.55" || m.Asks[0].Size.String() != "0.57753524" {
		t.Fatalf("snapshot %+v", ev.Books)
	}
	ev.Reset()
	if err := a.Decode(read("l2update.json"), rcv, &ev); err != nil {
		t.Fatal(err)
	}
	m = ev.Books[0]
	if len(ev.Books) != 1 || m.Snapshot || !m.Time.Equal(time.Date(2022, 8, 4, 15, 25, 5, 10758000, time.UTC)) || len(m.Changes) != 2 ||
		m.Changes[0].Side != market.Bid || m.Changes[0].Price.String() != "22356.27" || !m.Changes[0].Size.IsZero() ||
		m.Changes[1].Price.Exponent() != -6 || m.Changes[1].Size.String() != "1" {
		t.Fatalf("l2update %+v", ev.Books)
	}
	for _, bad := range []struct{ frame, field string }{
		{`{"type":"l2update","product_id":"BTC-USD","changes":[["hold","1","1"]],"time":"2022-08-04T15:25:05.010758Z"}`, "changes.side"},
		{`{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1"]],"time":"2022-08-04T15:25:05.010758Z"}`, "changes"},
		{`{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1","1"]]}`, "time"},
		{`{"type":"snapshot","product_id":"BTC-USD","bids":[[10101.10,"1"]],"asks":[]}`, "bids.price"},
		{`{"type":"snapshot","product_id":"BTC-USD","bids":[]}`, "asks"},
	} {
		ev.Reset()
		err := a.Decode([]byte(bad.frame), rcv, &ev)
		de, ok := err.(*collector.DecodeError)
		if !ok || de.Field != bad.field || len(ev.Books) != 0 {
			t.Errorf("%s: err %v books %d; want a decode error on field %s", bad.frame, err, len(ev.Books), bad.field)
		}
	}
}

// TestSubscribeLevel2: an order book stream subscribes level2_batch, and
// the subscriptions answer acknowledges it.
func TestSubscribeLevel2(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeOrderBook}
	plans, err := a.Plan([]market.Stream{s})
	if err != nil {
		t.Fatal(err)
	}
	frames, err := a.Subscribe(plans[0], plans[0].Streams, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"subscribe","channels":[{"name":"level2_batch","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD"]}]}`; string(frames[0]) != want {
		t.Fatalf("frame %s, want %s", frames[0], want)
	}
	var ev collector.Event
	if err := a.Decode([]byte(`{"type":"subscriptions","channels":[{"name":"level2_batch","product_ids":["BTC-USD"]}]}`), time.Now(), &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Acked) != 1 || ev.Acked[0] != s {
		t.Fatalf("acked %v", ev.Acked)
	}
}

// TestSubscribeLevel2Signed: with API keys an order book stream subscribes
// the authenticated level2 channel in a frame of its own, signed over
// timestamp + "GET" + "/users/self/verify" with the timestamp as a string;
// the public channels stay in an unsigned frame, an unsubscribe is not
// signed, and the subscriptions answer's level2 acknowledges the stream.
// Incomplete keys or a secret that is not Base64 are refused by New.
func TestSubscribeLevel2Signed(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("level2-secret-0123456789abcdef"))
	creds := credentials.Credentials{Name: "CB", Key: credentials.NewSecret("k1"), Secret: credentials.NewSecret(secret), Passphrase: credentials.NewSecret("pp")}
	now := time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC)
	a, err := New(Config{Credentials: creds, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	book := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeOrderBook}
	trade := market.Stream{Exchange: market.Coinbase, Symbol: "ETH-USD", Type: market.TypeTrade}
	plans, err := a.Plan([]market.Stream{book, trade})
	if err != nil {
		t.Fatal(err)
	}
	frames, err := a.Subscribe(plans[0], plans[0].Streams, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 {
		t.Fatalf("%d frames, want a public one and a signed one: %s", len(frames), frames)
	}
	if want := `{"type":"subscribe","channels":[{"name":"matches","product_ids":["ETH-USD"]},{"name":"heartbeat","product_ids":["BTC-USD","ETH-USD"]}]}`; string(frames[0]) != want {
		t.Errorf("public frame %s, want %s", frames[0], want)
	}
	m := hmac.New(sha256.New, []byte("level2-secret-0123456789abcdef"))
	m.Write([]byte("1772366400.250GET/users/self/verify"))
	sig := base64.StdEncoding.EncodeToString(m.Sum(nil))
	if want := `{"type":"subscribe","channels":[{"name":"level2","product_ids":["BTC-USD"]}],"signature":"` + sig +
		`","key":"k1","passphrase":"pp","timestamp":"1772366400.250"}`; string(frames[1]) != want {
		t.Errorf("signed frame %s, want %s", frames[1], want)
	}
	un, err := a.Unsubscribe(plans[0], []market.Stream{book}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"unsubscribe","channels":[{"name":"level2","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD"]}]}`; len(un) != 1 || string(un[0]) != want {
		t.Errorf("unsubscribe %s, want %s", un, want)
	}
	var ev collector.Event
	if err := a.Decode([]byte(`{"type":"subscriptions","channels":[{"name":"level2","product_ids":["BTC-USD"]}]}`), time.Now(), &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Acked) != 1 || ev.Acked[0] != book {
		t.Fatalf("acked %v", ev.Acked)
	}
	for _, bad := range []credentials.Credentials{
		{Name: "CB", Key: creds.Key, Secret: creds.Secret},
		{Name: "CB", Key: creds.Key, Secret: credentials.NewSecret("not base64!"), Passphrase: creds.Passphrase},
	} {
		if _, err := New(Config{Credentials: bad}); err == nil {
			t.Errorf("New accepted incomplete or malformed keys")
		}
	}
}

package binance

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

// TestDecodeDepth: the documented diff depth event, raw and wrapped,
// decodes into one exact book message (U, u, event time, changes with
// their decimals); broken ones are refused with their field.
func TestDecodeDepth(t *testing.T) {
	a := newTestAdapter(t)
	if _, err := a.Plan(append(testStreams(), market.Stream{Exchange: market.Binance, Symbol: "BNB-BTC", Type: market.TypeOrderBook})); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"depth_raw.json", "depth_combined.json"} {
		frame, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		var ev collector.Event
		if err := a.Decode(frame, received, &ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(ev.Books) != 1 || len(ev.Records) != 0 {
			t.Fatalf("%s: %d books %d records", f, len(ev.Books), len(ev.Records))
		}
		m := ev.Books[0]
		if m.Symbol != "BNB-BTC" || m.Snapshot || m.First != 157 || m.Seq != 160 || !m.Time.Equal(time.UnixMilli(1672515782136)) || len(m.Changes) != 2 ||
			m.Changes[0].Side != market.Bid || m.Changes[0].Price.String() != "0.0024" || m.Changes[0].Size.String() != "10" ||
			m.Changes[1].Side != market.Ask || m.Changes[1].Price.String() != "0.0026" || m.Changes[1].Size.String() != "100" {
			t.Fatalf("%s: message %+v", f, m)
		}
	}
	for _, bad := range []struct{ frame, field string }{
		{`{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","u":160,"b":[],"a":[]}`, "U"},
		{`{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":161,"u":160,"b":[],"a":[]}`, "U"},
		{`{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024"]],"a":[]}`, "b"},
		{`{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[],"a":[[0.0026,"1"]]}`, "a.price"},
		{`{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[]}`, "a"},
	} {
		var ev collector.Event
		err := a.Decode([]byte(bad.frame), received, &ev)
		de, ok := err.(*collector.DecodeError)
		if !ok || de.Field != bad.field || len(ev.Books) != 0 {
			t.Errorf("%s: err %v books %d; want a decode error on field %s", bad.frame, err, len(ev.Books), bad.field)
		}
	}
}

// TestFetchBook: the REST snapshot is one GET /api/v3/depth with the limit
// for the depth, read exactly (the documented body).
func TestFetchBook(t *testing.T) {
	s := newRESTServer(t, http.StatusOK, nil, `{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}`)
	a := newRESTAdapter(t, s, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m, err := a.FetchBook(context.Background(), "BNB-BTC", 20)
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, s.only(t), "/api/v3/depth", url.Values{"symbol": {"BNBBTC"}, "limit": {"100"}})
	if !m.Snapshot || m.Seq != 1027024 || len(m.Bids) != 1 || len(m.Asks) != 1 ||
		m.Bids[0].Price.StringFixed(8) != "4.00000000" || m.Bids[0].Price.Exponent() != -8 || m.Bids[0].Size.StringFixed(8) != "431.00000000" || m.Bids[0].Size.Exponent() != -8 ||
		m.Asks[0].Price.String() != "4.000002" || m.Asks[0].Price.Exponent() != -8 {
		t.Fatalf("snapshot %+v", m)
	}
	for depth, want := range map[int]int{1: 100, 20: 100, 21: 500, 100: 500, 101: 1000, 200: 1000, 201: 5000, 5000: 5000} {
		if got := DepthLimit(depth); got != want {
			t.Errorf("DepthLimit(%d) = %d, want %d", depth, got, want)
		}
	}
	bad := newRESTServer(t, http.StatusOK, nil, `{"bids":[],"asks":[]}`)
	if _, err := newRESTAdapter(t, bad, time.Now()).FetchBook(context.Background(), "BNB-BTC", 20); err == nil {
		t.Error("a body without lastUpdateId was accepted")
	}
}

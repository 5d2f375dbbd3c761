package coinbase

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestFetchBook: the drift check's REST book is one GET
// /products/{id}/book?level=2, read exactly (the documented body, whose
// third column is the number of orders).
func TestFetchBook(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"sequence":3,"bids":[["295.96","4.39088265",2]],"asks":[["295.97","25.23542881",12]],"auction_mode":false,"auction":null}`))
	}))
	defer srv.Close()
	a, err := New(Config{RESTURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.FetchBook(context.Background(), "BTC-USD", 20)
	if err != nil {
		t.Fatal(err)
	}
	if got.URL.Path != "/products/BTC-USD/book" || got.URL.RawQuery != "level=2" {
		t.Errorf("request %s?%s, want /products/BTC-USD/book?level=2", got.URL.Path, got.URL.RawQuery)
	}
	if !m.Snapshot || len(m.Bids) != 1 || len(m.Asks) != 1 || m.Bids[0].Price.String() != "295.96" || m.Bids[0].Size.String() != "4.39088265" ||
		m.Asks[0].Price.String() != "295.97" || m.Asks[0].Size.String() != "25.23542881" {
		t.Fatalf("book %+v", m)
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

// TestParseCollectorsBookKeys: the order book keys are read with their
// defaults, and a bad value stops the file with its line and the reason.
func TestParseCollectorsBookKeys(t *testing.T) {
	const head = "collectors:\n  - name: a\n    exchange: okx\n    symbols: [BTC-USDT]\n"
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
	}{
		{name: "defaults", yaml: head + "    data_types: [orderbook]\n"},
		{name: "all set", yaml: head + "    data_types: [orderbook, trade]\n    book_depth: 400\n    book_interval: 5s\n    book_publish_interval: 250ms\n    book_updates: true\n"},
		{name: "depth beyond the channel", yaml: head + "    data_types: [orderbook]\n    book_depth: 401\n", wantErr: []string{"c.yaml:2", "book_depth: 401", "at most 400"}},
		{name: "negative depth", yaml: head + "    data_types: [orderbook]\n    book_depth: -1\n", wantErr: []string{"c.yaml:2", "book_depth: -1"}},
		{name: "interval too short", yaml: head + "    data_types: [orderbook]\n    book_interval: 1ms\n", wantErr: []string{"c.yaml:2", "book_interval: 1ms", "at least 10ms"}},
		{name: "publish interval negative", yaml: head + "    data_types: [orderbook]\n    book_publish_interval: -1s\n", wantErr: []string{"c.yaml:2", "book_publish_interval"}},
		{name: "bad interval text", yaml: head + "    data_types: [orderbook]\n    book_interval: often\n", wantErr: []string{"line 6", "often"}},
		{name: "book keys without orderbook", yaml: head + "    data_types: [trade]\n    book_updates: true\n", wantErr: []string{"c.yaml:2", "data_types has no orderbook"}},
		{name: "coinbase level2 keys", yaml: "collectors:\n  - name: a\n    exchange: coinbase\n    symbols: [BTC-USD]\n    data_types: [orderbook, trade]\n    credentials: cb_books\n"},
		{name: "keys without orderbook", yaml: "collectors:\n  - name: a\n    exchange: coinbase\n    symbols: [BTC-USD]\n    data_types: [trade]\n    credentials: cb_books\n", wantErr: []string{"c.yaml:2", "credentials: set, but data_types has no balance"}},
		{name: "keys on another exchange's books", yaml: head + "    data_types: [orderbook]\n    credentials: okx_books\n", wantErr: []string{"c.yaml:2", "credentials: set, but data_types has no balance"}},
		{name: "bad keys name", yaml: "collectors:\n  - name: a\n    exchange: coinbase\n    symbols: [BTC-USD]\n    data_types: [orderbook]\n    credentials: cb-books\n", wantErr: []string{"c.yaml:2", `credentials "cb-books"`}},
		{name: "bad updates flag", yaml: head + "    data_types: [orderbook]\n    book_updates: maybe\n", wantErr: []string{"line 6", "maybe"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := ParseCollectors("c.yaml", []byte(tc.yaml))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got specs %+v", tc.wantErr, specs)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	specs, err := ParseCollectors("c.yaml", []byte(head+"    data_types: [orderbook]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := specs[0]
	if s.Depth() != 20 || s.BookEvery() != time.Second || s.BookPublishEvery() != 100*time.Millisecond || s.BookUpdates {
		t.Errorf("defaults: depth %d interval %s publish %s updates %v; want 20 1s 100ms false", s.Depth(), s.BookEvery(), s.BookPublishEvery(), s.BookUpdates)
	}
	specs, err = ParseCollectors("c.yaml", []byte(head+"    data_types: [orderbook]\n    book_depth: 50\n    book_interval: 2s\n    book_publish_interval: 0.5\n    book_updates: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	s = specs[0]
	if s.Depth() != 50 || s.BookEvery() != 2*time.Second || s.BookPublishEvery() != 500*time.Millisecond || !s.BookUpdates {
		t.Errorf("set: depth %d interval %s publish %s updates %v; want 50 2s 500ms true", s.Depth(), s.BookEvery(), s.BookPublishEvery(), s.BookUpdates)
	}
}

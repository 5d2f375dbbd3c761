package okx

import (
	"errors"
	"testing"

	"marketetl/collector"
	"marketetl/market"
)

// TestTradeCount checks that the trades channel's "count" (matches merged
// into one push, tradeId being the last of them) reaches Trade.Aggregates.
func TestTradeCount(t *testing.T) {
	a := newAdapter(t, Config{})
	frame := func(count string) []byte {
		return []byte(`{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474",` +
			`"px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897"` + count + `,"source":"0","seqId":1234}]}`)
	}
	tests := []struct {
		name  string
		count string
		want  int
		bad   bool
	}{
		{name: "three matches", count: `,"count":"3"`, want: 3},
		{name: "one match", count: `,"count":"1"`, want: 1},
		{name: "absent", count: ``, want: 0},
		{name: "empty", count: `,"count":""`, want: 0},
		{name: "largest", count: `,"count":"1000000"`, want: 1000000},
		{name: "zero", count: `,"count":"0"`, bad: true},
		{name: "too large", count: `,"count":"1000001"`, bad: true},
		{name: "huge", count: `,"count":"99999999999999999999999"`, bad: true},
		{name: "not a number", count: `,"count":"3a"`, bad: true},
		{name: "negative", count: `,"count":"-3"`, bad: true},
		{name: "a JSON number", count: `,"count":3`, bad: true},
		{name: "twice", count: `,"count":"3","count":"3"`, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev collector.Event
			err := a.Decode(frame(tc.count), received, &ev)
			if tc.bad {
				var de *collector.DecodeError
				if !errors.As(err, &de) || de.Field != "count" {
					t.Fatalf("Decode error %v, want a DecodeError on field count", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(ev.Records) != 1 {
				t.Fatalf("%d records, want 1", len(ev.Records))
			}
			tr := ev.Records[0].(*market.Trade)
			if tr.Aggregates != tc.want || tr.TradeID != "130639474" {
				t.Errorf("trade %s aggregates %d, want %d", tr.TradeID, tr.Aggregates, tc.want)
			}
		})
	}
}

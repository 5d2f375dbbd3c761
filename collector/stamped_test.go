package collector

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// stampedSink records which of Accept and AcceptAfter took each record.
type stampedSink struct {
	accepted int
	after    []time.Time
}

func (s *stampedSink) Accept(context.Context, market.Record) error { s.accepted++; return nil }
func (s *stampedSink) Reject(context.Context, market.Reject) error { return nil }
func (s *stampedSink) AcceptAfter(_ context.Context, _ market.Record, earlier time.Time) error {
	s.after = append(s.after, earlier)
	return nil
}

var _ StampedSink = (*stampedSink)(nil)

// TestStampedSink checks that a collector stamping frames with the wall
// clock hands the records read from frames to a StampedSink's
// AcceptAfter with the frame's reading, and everything else to Accept.
func TestStampedSink(t *testing.T) {
	stream := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeTrade}
	trade := func(id string) *market.Trade {
		at := time.Now()
		return &market.Trade{Meta: market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: at, Received: at},
			TradeID: id, Price: decimal.RequireFromString("1"), Size: decimal.RequireFromString("1"), Side: market.Buy}
	}
	read := time.Now().UTC()
	tests := []struct {
		name      string
		now       func() time.Time
		wantAfter bool
	}{
		{name: "wall clock", now: nil, wantAfter: true},
		{name: "another clock", now: func() time.Time { return read }, wantAfter: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &stampedSink{}
			c, err := New(Config{Name: "s", Streams: []market.Stream{stream}, Now: tt.now}, &lineProto{url: "ws://127.0.0.1:1", seqIDs: true}, sink)
			if err != nil {
				t.Fatal(err)
			}
			session := c.positions.next()
			if err := c.route.route(t.Context(), "only", &Event{Records: []market.Record{trade("1")}}, read, session); err != nil {
				t.Fatal(err)
			}
			// A record made here (session 0) goes to Accept.
			if err := c.route.deliver(t.Context(), trade("2"), read, 0); err != nil {
				t.Fatal(err)
			}
			if tt.wantAfter {
				if len(sink.after) != 1 || !sink.after[0].Equal(read) || sink.accepted != 1 {
					t.Errorf("AcceptAfter readings %v, Accept calls %d: want [%s] and 1", sink.after, sink.accepted, read)
				}
			} else if len(sink.after) != 0 || sink.accepted != 2 {
				t.Errorf("AcceptAfter readings %v, Accept calls %d: want none and 2", sink.after, sink.accepted)
			}
		})
	}
}

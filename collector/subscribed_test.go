package collector

import (
	"testing"

	"marketetl/market"
)

// TestSubscribedClearedOnDropAndSetByTheNewAck: a stream is subscribed
// once acknowledged; when its connection drops it is not, also after the
// new connection sent its subscribe frame, until that one is acknowledged.
// A candle stream built from the trades follows the trade stream. The time
// of the first acknowledgement is kept across the reconnect.
func TestSubscribedClearedOnDropAndSetByTheNewAck(t *testing.T) {
	ls := newLineServer(t)
	trades := tradeStream("BTC-USD")
	candles := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	c, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{trades, candles}}, &lineProto{url: ls.url(), aggregate: true}, newSink())
	defer stop()
	subscribed := func() (bool, bool) {
		st := c.Status()
		return st.Streams[trades.String()].Subscribed, st.Streams[candles.String()].Subscribed
	}
	waitFor(t, "the first acknowledgement", func() bool { tr, cd := subscribed(); return tr && cd })
	first := c.Status().Streams[trades.String()].FirstSubscribed
	if first.IsZero() || !c.Status().Streams[candles.String()].FirstSubscribed.Equal(first) {
		t.Fatalf("first subscribed: trades %v, candles %v; want the first acknowledgement's time for both", first, c.Status().Streams[candles.String()].FirstSubscribed)
	}
	ls.mu.Lock()
	ls.noAck = true
	ls.mu.Unlock()
	ls.dropAll()
	waitFor(t, "the subscribe frame of the new connection", func() bool { return ls.count("sub ") == 2 })
	if tr, cd := subscribed(); tr || cd {
		t.Fatalf("before the new acknowledgement: trades subscribed %v, candles %v; want neither", tr, cd)
	}
	ls.broadcast("ack " + trades.String())
	waitFor(t, "the new acknowledgement", func() bool { tr, cd := subscribed(); return tr && cd })
	if got := c.Status().Streams[trades.String()].FirstSubscribed; !got.Equal(first) {
		t.Errorf("first subscribed %v after the new acknowledgement, want %v: a reconnect must not reset it", got, first)
	}
}

// TestURLSubscribedStreamsAreSubscribedWhenTheConnectionDelivers: a
// connection whose URL carries its streams has no acknowledgement; its
// first frame (here a heartbeat, not a record of the stream) marks them.
func TestURLSubscribedStreamsAreSubscribedWhenTheConnectionDelivers(t *testing.T) {
	ls := newLineServer(t)
	trades := tradeStream("BTC-USD")
	c, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{trades}}, &urlProto{lineProto{url: ls.url()}}, newSink())
	defer stop()
	waitFor(t, "a connection", func() bool { return len(ls.live()) == 1 })
	if c.Status().Streams[trades.String()].Subscribed {
		t.Fatal("subscribed before the connection delivered anything")
	}
	ls.broadcast("hb BTC-USD 1700000000")
	waitFor(t, "subscribed by the first frame", func() bool { return c.Status().Streams[trades.String()].Subscribed })
	ls.dropAll()
	waitFor(t, "the stream unsubscribed by the drop", func() bool { return !c.Status().Streams[trades.String()].Subscribed })
	waitFor(t, "a new connection", func() bool { return ls.acceptedConns() == 2 && len(ls.live()) == 1 })
	ls.broadcast("hb BTC-USD 1700000001")
	waitFor(t, "subscribed again by its first frame", func() bool { return c.Status().Streams[trades.String()].Subscribed })
	if n := ls.count("sub "); n != 0 {
		t.Errorf("%d subscribe frames on connections whose URL subscribes", n)
	}
}

// urlProto is lineProto whose URL carries the streams.
type urlProto struct{ lineProto }

func (p *urlProto) Plan(streams []market.Stream) ([]ConnPlan, error) {
	plans, err := p.lineProto.Plan(streams)
	for i := range plans {
		plans[i].URLCarriesStreams = true
	}
	return plans, err
}

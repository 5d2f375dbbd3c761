package collector

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"marketetl/market"
)

// limitedProto is lineProto declaring subscription limits.
type limitedProto struct {
	lineProto
	limits Limits
}

func (p *limitedProto) Limits() Limits { return p.limits }

func tickerStream(sym string) market.Stream {
	return market.Stream{Exchange: market.Coinbase, Symbol: market.Symbol(sym), Type: market.TypeTicker}
}

func TestSplitConnsKeepsTheLimitAndEachSymbolTogether(t *testing.T) {
	var streams, aggregated []market.Stream
	for i := range 7 {
		sym := fmt.Sprintf("S%02d-USD", i)
		streams = append(streams, tradeStream(sym), tickerStream(sym), market.Stream{Exchange: market.Coinbase, Symbol: market.Symbol(sym), Type: market.TypeOrderBook})
		aggregated = append(aggregated, market.Stream{Exchange: market.Coinbase, Symbol: market.Symbol(sym), Type: market.TypeCandle, Timeframe: market.TF1m})
	}
	sortStreams(streams)
	in := map[string]ConnPlan{
		"feed":  {Key: "feed", URL: "ws://x", Streams: streams, Aggregated: aggregated},
		"small": {Key: "small", URL: "ws://y", Streams: streams[:2]},
		"url":   {Key: "url", URL: "ws://z", Streams: streams, URLCarriesStreams: true},
	}
	out := splitConns(in, 7)
	var keys []string
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// 21 streams of 3 per symbol, 7 per connection: 2 symbols (6 streams)
	// per part, never a symbol cut in two.
	if got := strings.Join(keys, ","); got != "feed,feed#2,feed#3,feed#4,small,url" {
		t.Fatalf("keys %s", got)
	}
	seen := map[string]int{}
	for _, k := range []string{"feed", "feed#2", "feed#3", "feed#4"} {
		p := out[k]
		if p.Key != "feed" || p.URL != "ws://x" {
			t.Errorf("part %s: adapter key %q, URL %q; want the adapter's own", k, p.Key, p.URL)
		}
		if len(p.Streams) > 7 {
			t.Errorf("part %s carries %d streams, limit 7", k, len(p.Streams))
		}
		syms := map[market.Symbol]bool{}
		for _, s := range p.Streams {
			seen[s.String()]++
			syms[s.Symbol] = true
		}
		for sym := range syms {
			n := 0
			for _, s := range p.Streams {
				if s.Symbol == sym {
					n++
				}
			}
			if n != 3 {
				t.Errorf("part %s has %d of %s's 3 streams", k, n, sym)
			}
		}
		for _, a := range p.Aggregated {
			if !syms[a.Symbol] {
				t.Errorf("part %s aggregates %s without its trades", k, a)
			}
		}
		if len(p.Aggregated) != len(syms) {
			t.Errorf("part %s: %d aggregated candle streams for %d symbols", k, len(p.Aggregated), len(syms))
		}
	}
	if len(seen) != len(streams) {
		t.Errorf("%d distinct streams over the parts, want %d", len(seen), len(streams))
	}
	for s, n := range seen {
		if n != 1 {
			t.Errorf("stream %s on %d parts", s, n)
		}
	}
	if len(out["small"].Streams) != 2 || len(out["url"].Streams) != len(streams) {
		t.Error("a connection within the limit, or one whose URL carries its streams, was split")
	}
	// A symbol with more streams than the limit is cut at the limit.
	parts := splitStreams(streams[:3], 2)
	if len(parts) != 2 || len(parts[0]) != 2 || len(parts[1]) != 1 {
		t.Errorf("3 streams at 2 per part: %v", parts)
	}
}

// TestCollectorOpensAsManyConnectionsAsTheLimitNeeds: 5 symbols of 2
// streams with 4 streams per connection are 3 connections, each
// subscribing its own streams only, every stream confirmed; after all drop
// at once, the same 3 are dialled and resubscribed.
func TestCollectorOpensAsManyConnectionsAsTheLimitNeeds(t *testing.T) {
	ls := newLineServer(t)
	var streams []market.Stream
	for i := range 5 {
		sym := fmt.Sprintf("S%d-USD", i)
		streams = append(streams, tradeStream(sym), tickerStream(sym))
	}
	p := &limitedProto{lineProto: lineProto{url: ls.url()}, limits: Limits{StreamsPerConn: 4}}
	c, stop := startCollector(t, Config{Name: "t", Streams: streams}, p, newSink())
	defer stop()
	allSubscribed := func() bool {
		st := c.Status()
		for _, s := range streams {
			if !st.Streams[s.String()].Subscribed {
				return false
			}
		}
		return true
	}
	waitFor(t, "every stream confirmed", allSubscribed)
	check := func(round int) {
		t.Helper()
		ls.mu.Lock()
		var subs []string
		for _, m := range ls.received {
			if strings.HasPrefix(m, "sub ") {
				subs = append(subs, strings.TrimPrefix(m, "sub "))
			}
		}
		ls.mu.Unlock()
		if len(subs) != 3*round {
			t.Fatalf("round %d: %d subscribe frames, want %d (one per connection): %q", round, len(subs), 3*round, subs)
		}
		count := map[string]int{}
		for _, f := range subs[3*(round-1):] {
			names := strings.Split(f, ",")
			if len(names) > 4 {
				t.Errorf("one connection subscribed %d streams, limit 4: %s", len(names), f)
			}
			for _, n := range names {
				count[n]++
			}
		}
		for _, s := range streams {
			if count[s.String()] != 1 {
				t.Errorf("round %d: stream %s subscribed %d times", round, s, count[s.String()])
			}
		}
	}
	check(1)
	if n := ls.acceptedConns(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
	ls.dropAll()
	waitFor(t, "3 connections dialled again", func() bool { return ls.acceptedConns() == 6 && ls.count("sub ") == 6 })
	check(2)
}

// TestDialsArePacedAcrossConnections: with a bucket of 2 that never
// refills, only 2 of the 3 planned connections are dialled.
func TestDialsArePacedAcrossConnections(t *testing.T) {
	ls := newLineServer(t)
	var streams []market.Stream
	for i := range 3 {
		streams = append(streams, tradeStream(fmt.Sprintf("S%d-USD", i)))
	}
	p := &limitedProto{lineProto: lineProto{url: ls.url()}, limits: Limits{StreamsPerConn: 1, Dials: Pace{PerSecond: 1e-9, Burst: 2}}}
	c, stop := startCollector(t, Config{Name: "t", Streams: streams}, p, newSink())
	waitFor(t, "two subscriptions confirmed and a third connection waiting", func() bool {
		st := c.Status()
		n := 0
		for _, s := range streams {
			if st.Streams[s.String()].Subscribed {
				n++
			}
		}
		c.st.mu.Lock()
		conns := len(c.st.conns)
		c.st.mu.Unlock()
		return n == 2 && conns == 3
	})
	stop()
	if n := ls.acceptedConns(); n != 2 {
		t.Errorf("%d connections dialled, the pace allows 2", n)
	}
}

// TestRequestsWaitForTheirPace: with a bucket of 2 that never refills, two
// request frames are queued and the third waits until ctx ends.
func TestRequestsWaitForTheirPace(t *testing.T) {
	w := &writer{frames: make(chan []byte, 8), requests: Pace{PerSecond: 1e-9, Burst: 2}.limiter()}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.request(ctx, []byte("a"), []byte("b"), []byte("c")) }()
	waitFor(t, "two frames queued", func() bool { return len(w.frames) >= 2 })
	cancel()
	err := <-done
	if err == nil || len(w.frames) != 2 {
		t.Errorf("request returned %v with %d frames queued; want the third held back", err, len(w.frames))
	}
	if (Pace{}).limiter() != nil {
		t.Error("a zero pace must not limit")
	}
}

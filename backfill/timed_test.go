package backfill_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"marketetl/backfill"
	"marketetl/collector"
	"marketetl/market"
	"marketetl/store"
)

// pagedByTime is a time-paged trade history with small pages whose since
// is exclusive and whose cursor is the last trade's time, as Kraken's
// Trades: trades sharing a time across a page boundary are lost unless the
// next page is asked from before that time.
type pagedByTime struct {
	collector.History
	trades []market.Trade
	page   int
}

func (p *pagedByTime) TradesSince(_ context.Context, _ market.Symbol, since time.Time) ([]market.Trade, time.Time, error) {
	i := sort.Search(len(p.trades), func(i int) bool { return p.trades[i].Time.After(since) })
	out := p.trades[i:min(len(p.trades), i+p.page)]
	next := since
	if len(out) > 0 {
		next = out[len(out)-1].Time
	}
	page := append([]market.Trade(nil), out...)
	for i := range page {
		page[i].Received = time.Now()
	}
	return page, next, nil
}

// TestTimePagedHistoryKeepsTradesSharingATime: trades in threes share a
// time, pages hold four: every page boundary cuts a group of trades with
// one time, and the gap is still filled exactly.
func TestTimePagedHistoryKeepsTradesSharingATime(t *testing.T) {
	r := newRig(t, 100)
	ex := market.Kraken
	sym := r.sim.Symbols(ex)[0]
	truth := r.sim.Trades(ex, sym)
	for i := range truth {
		truth[i].Time = truth[0].Time.Add(time.Duration(i/3) * time.Second)
	}
	r.store(ptrs(truth[:10])...)
	r.store(ptrs(truth[60:])...)
	r.waitTrades(ex, sym, 50)
	f := r.filler(func(c *backfill.Config) {
		c.Histories = map[market.Exchange]collector.History{ex: &pagedByTime{History: r.hist[ex], trades: truth, page: 4}}
	})
	st := market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade}
	res, err := f.Fill(t.Context(), market.Gap{Stream: st, From: truth[9].Time, To: truth[60].Time,
		AfterID: tradeID(t, truth[9]), BeforeID: tradeID(t, truth[60]), Reason: market.GapDisconnect})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != store.GapFilled || res.Rows != 50 || len(res.Unfillable) != 0 {
		t.Fatalf("result %+v, want filled with 50 rows", res)
	}
	r.waitTrades(ex, sym, 100)
	sameLines(t, "trades", r.storedTrades(ex, sym), tradeLines(truth))
}

package e2e

import (
	"fmt"
	"testing"

	"marketetl/market"
)

// TestKrakenGapFilledFromREST runs the Kraken collector through the
// service against the simulated exchange: trades and ohlc updates
// published while the feed is stalled never arrive, the connection is then
// dropped and redialled, the first trade after it records a gap bounded by
// trade ids, and the backfill fills it from REST Trades (paged by time).
// The database then holds exactly the exchange's trades and closed 1m
// candles, value for value, and the gap is recorded filled.
func TestKrakenGapFilledFromREST(t *testing.T) {
	ex := market.Kraken
	r := startRig(t, ex, []market.DataType{market.TypeTrade, market.TypeCandle})
	ctx := t.Context()
	if err := r.sim.Step(ctx, 50); err != nil {
		t.Fatal(err)
	}
	r.waitStored(ctx)
	r.sim.Stall(ex, true)
	if err := r.sim.Step(ctx, 40); err != nil { // published, never pushed
		t.Fatal(err)
	}
	connects := r.sim.Counts(ex).Connects
	if n := r.sim.DropConnections(ex); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	if err := r.sim.WaitConnects(ctx, ex, connects+1); err != nil {
		t.Fatal(err)
	}
	for _, st := range r.col.Streams() {
		if err := r.sim.WaitSubscribed(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	r.sim.Stall(ex, false)
	if err := r.sim.Step(ctx, 90); err != nil {
		t.Fatal(err)
	}
	r.waitStored(ctx)
	for _, sym := range r.sim.Symbols(ex) {
		if n := len(r.sim.Trades(ex, sym)); n != 180 {
			t.Fatalf("%s: the simulator made %d trades, want 180", sym, n)
		}
		r.checkTrades(ctx, sym)
		r.checkCandles(ctx, sym)
	}
	if dup := r.count(ctx, "SELECT count(*) FROM (SELECT 1 FROM trades GROUP BY exchange, symbol, trade_id HAVING count(*) > 1) d"); dup != 0 {
		t.Errorf("%d duplicated trades", dup)
	}
	// One trade gap per symbol, bounded by ids, filled with the 40 trades
	// lost.
	for _, sym := range r.sim.Symbols(ex) {
		all := r.sim.Trades(ex, sym)
		var after, before string
		var rows int
		eventually(t, "trade gap filled", func() (bool, string) {
			err := r.pool.QueryRow(ctx, `SELECT after_trade_id::text, before_trade_id::text, filled_rows FROM gaps
				WHERE exchange = $1 AND symbol = $2 AND data_type = 'trade' AND status = 'filled'`, string(ex), string(sym)).Scan(&after, &before, &rows)
			return err == nil, fmt.Sprint(err)
		})
		if after != all[49].TradeID || before != all[90].TradeID || rows != 40 {
			t.Errorf("%s: filled gap ids %s..%s rows %d, want %s..%s rows 40", sym, after, before, rows, all[49].TradeID, all[90].TradeID)
		}
	}
}

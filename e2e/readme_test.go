package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"marketetl/market"
)

// TestReadmeQueriesRun runs every SQL example of the README against a
// database filled by the real pipeline: each must execute, and the first
// (latest closed 1m candles on Binance) must return the stored candles.
func TestReadmeQueriesRun(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) < 4 {
		t.Fatalf("found %d SQL examples in the README", len(blocks))
	}
	r := startRig(t, market.Binance, []market.DataType{market.TypeTrade, market.TypeCandle, market.TypeTicker})
	ctx := t.Context()
	if err := r.sim.Step(ctx, 130); err != nil {
		t.Fatal(err)
	}
	r.waitStored(ctx)
	var timescale bool
	if err := r.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')").Scan(&timescale); err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		q := b[1]
		if strings.Contains(q, "time_bucket(") && !timescale {
			t.Logf("example %d needs TimescaleDB; skipped on plain PostgreSQL", i)
			continue
		}
		rows, err := r.pool.Query(ctx, q)
		if err != nil {
			t.Errorf("README SQL example %d fails: %v\n%s", i, err, q)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Errorf("README SQL example %d fails: %v\n%s", i, err, q)
		}
		rows.Close()
		if i == 0 && n != len(r.sim.ClosedCandles(market.Binance, "BTC-USDT", market.TF1m)) {
			t.Errorf("README example 0 returned %d candles, the exchange closed %d", n, len(r.sim.ClosedCandles(market.Binance, "BTC-USDT", market.TF1m)))
		}
	}
}

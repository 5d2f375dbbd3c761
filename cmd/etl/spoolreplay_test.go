package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap/zaptest"

	"marketetl/config"
	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/spool"
	"marketetl/store"
)

// TestSpoolReplayIsValidated: the data path validates records replayed from
// the spool like every other input: an invalid spooled trade ends in
// rejects with its reason, the valid one in trades.
func TestSpoolReplayIsValidated(t *testing.T) {
	url := dbtest.NewDatabase(t)
	log := zaptest.NewLogger(t)
	if err := store.Migrate(t.Context(), url, log); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(spool.Config{Dir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	for i, side := range []market.Side{market.Buy, "sideways"} {
		tr := &market.Trade{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Time: at.Add(time.Duration(i) * time.Second), Received: at},
			TradeID: "1" + string(rune('0'+i)), Price: decimal.RequireFromString("100.5"), Size: decimal.RequireFromString("1"), Side: side}
		if err := sp.Append(tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": url, "SPOOL_DIR": dir, "REDIS_ENABLED": "false"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	pool, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c, err := newCore(cfg, log, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		var n int
		if err := pool.QueryRow(t.Context(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	err = c.runWithData(t.Context(), func(ctx context.Context) error {
		deadline := time.Now().Add(20 * time.Second)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for c.buffer.Stats().Bytes > 0 || c.buffer.Stats().Replayed < 2 {
			if time.Now().After(deadline) {
				t.Errorf("spool not replayed: %+v", c.buffer.Stats())
				return nil
			}
			<-tick.C
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count("SELECT count(*) FROM trades"); n != 1 {
		t.Errorf("%d trades stored, want the valid one", n)
	}
	if n := count("SELECT count(*) FROM rejects WHERE reason = 'bad_side' AND exchange = 'okx' AND raw IS NOT NULL"); n != 1 {
		t.Errorf("%d bad_side rejects, want the replayed invalid trade", n)
	}
	if st := c.buffer.Stats(); st.ReplayRejected != 1 {
		t.Errorf("spool stats %+v, want 1 replay reject", st)
	}
}

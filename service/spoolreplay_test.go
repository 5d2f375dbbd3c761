package service

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/market"
	"marketetl/spool"
)

// TestSpoolReplayIsValidated: the data path validates records replayed from
// the spool like every other input: an invalid spooled trade ends in
// rejects with its reason, the valid one in trades.
func TestSpoolReplayIsValidated(t *testing.T) {
	ctx := t.Context()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	_, pool := migratedPool(t, log)
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(spool.Config{Dir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	for i, side := range []market.Side{market.Buy, "sideways"} {
		tr := &market.Trade{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Time: at.Add(time.Duration(i) * time.Second), Received: at},
			TradeID: string(rune('1' + i)), Price: decimal.RequireFromString("100.5"), Size: decimal.RequireFromString("1"), Side: side}
		if err := sp.Append(tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := quietConfig(t, dir)
	reg := Registry{market.OKX: {New: func(Endpoints, *http.Client) (Adapter, error) { return fakeAdapter{}, nil }}}
	svc, err := New(cfg, pool, reg, WithLogger(log), WithoutSupervisor())
	if err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	err = svc.RunWith(ctx, func(ctx context.Context) error {
		deadline := time.Now().Add(30 * time.Second) // a bound for a hung test, not a speed assertion
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for st := svc.buffer.Stats(); (st.Bytes > 0 || st.Replayed < 2) && time.Now().Before(deadline); st = svc.buffer.Stats() {
			select { // polling a condition
			case <-tick.C:
			case <-ctx.Done():
				return nil
			}
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
	if st := svc.buffer.Stats(); st.ReplayRejected != 1 || st.Replayed != 2 {
		t.Errorf("spool stats %+v, want 2 replayed, 1 of them rejected", st)
	}
}

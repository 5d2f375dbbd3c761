package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"marketetl/dbtest"
	"marketetl/market"
)

func TestScratchBreakdown(t *testing.T) {
	url := dbtest.NewDatabase(t)
	if err := Migrate(t.Context(), url, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []string{"", "&temp_buffers=64MB"} {
		conn, err := pgx.Connect(t.Context(), url+tb)
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]*market.Trade, benchBatch)
		for it := range 3 {
			for j := range rows {
				rows[j] = trade(j, "64123.45", "0.00123")
				rows[j].TradeID = fmt.Sprintf("%s%d-%d", tb, it, j)
			}
			tx, _ := conn.Begin(t.Context())
			s := time.Now()
			tx.Exec(t.Context(), tradesTable.createStage())
			src := &rowSource[*market.Trade]{rows: rows, tab: &tradesTable}
			if _, err := tx.CopyFrom(t.Context(), pgx.Identifier{tradesTable.stage}, tradesTable.columnNames(), src); err != nil {
				t.Fatal(err)
			}
			c := time.Since(s)
			if _, err := tx.Exec(t.Context(), tradesTable.merge); err != nil {
				t.Fatal(err)
			}
			m := time.Since(s) - c
			tx.Commit(t.Context())
			t.Logf("%q copy %s merge %s total %s", tb, c, m, time.Since(s))
		}
		conn.Close(t.Context())
	}
}

package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// readmeRebuildQuery returns the README's query that rebuilds a book from
// the last snapshot and the stored changes after it (the last SQL example
// of "Order books in SQL"), with its stream and moment as written there.
func readmeRebuildQuery(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "### Order books in SQL")
	if start < 0 {
		t.Fatal(`README has no "Order books in SQL" section`)
	}
	text = text[start:]
	if end := strings.Index(text[4:], "\n#"); end >= 0 {
		text = text[:end+4]
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(text, -1)
	if len(blocks) == 0 {
		t.Fatal("no SQL in the order-book section")
	}
	q := blocks[len(blocks)-1][1]
	for _, p := range []string{"'okx'::text AS exchange", "'BTC-USDT'::text AS symbol", "TIMESTAMPTZ '2024-03-01 12:00:05+00' AS at"} {
		if !strings.Contains(q, p) {
			t.Fatalf("the rebuild query does not set %s:\n%s", p, q)
		}
	}
	return q
}

// TestBookRebuiltFromStoredUpdates runs each exchange's book through the
// whole service into PostgreSQL with book_updates on and one snapshot
// only (the one taken when the book synced: the interval is an hour),
// then runs the README's rebuild query (the last snapshot and the changes
// stored after it) at the time of several of the exchange's updates: the
// rebuilt book equals the simulator's book after that update, level for
// level, within the price range the snapshot covers. The exchange's time
// follows the wall clock, as a real exchange's does, so a snapshot that
// carries no time of its own (Coinbase's, Binance's REST one) is stamped
// about when the exchange sent it.
func TestBookRebuiltFromStoredUpdates(t *testing.T) {
	for _, ex := range []market.Exchange{market.OKX, market.Binance, market.Coinbase} {
		t.Run(string(ex), func(t *testing.T) {
			b := startBookRigWith(t, ex, bookRigOptions{updates: true, interval: time.Hour, depth: 400, live: true})
			query := readmeRebuildQuery(t)
			// The book syncs (on Binance the first event asks for the REST
			// snapshot), then the exchange goes on until at least five
			// distinct update times follow the snapshot.
			b.step(1)
			eventually(t, "the snapshot of the sync", func() (bool, string) {
				n := b.rig.count(b.ctx, `SELECT count(*) FROM book_snapshots WHERE exchange = $1 AND symbol = $2`, ex, b.sym)
				return n > 0, fmt.Sprintf("%d snapshots", n)
			})
			var snapTS time.Time
			var worstBid, worstAsk decimal.Decimal
			if err := b.rig.pool.QueryRow(b.ctx, `SELECT ts, bids[array_length(bids, 1)][1], asks[array_length(asks, 1)][1]
				FROM book_snapshots WHERE exchange = $1 AND symbol = $2`, ex, b.sym).Scan(&snapTS, &worstBid, &worstAsk); err != nil {
				t.Fatal(err)
			}
			after := func() []time.Time {
				var out []time.Time
				for _, at := range b.ticks {
					if at.After(snapTS) {
						out = append(out, at)
					}
				}
				return out
			}
			for n := 0; len(after()) < 5; n++ {
				if n == 500 {
					t.Fatalf("500 ticks and %d update times after the snapshot at %s", len(after()), snapTS)
				}
				b.step(1)
			}
			b.step(2)
			last := b.ticks[len(b.ticks)-1]
			eventually(t, "the last update's changes stored", func() (bool, string) {
				n := b.rig.count(b.ctx, `SELECT count(*) FROM book_updates WHERE exchange = $1 AND symbol = $2 AND ts = $3`, ex, b.sym, last)
				return n > 0, fmt.Sprintf("%d changes at %s", n, last)
			})
			if n := b.rig.count(b.ctx, `SELECT count(*) FROM book_snapshots WHERE exchange = $1 AND symbol = $2`, ex, b.sym); n != 1 {
				t.Fatalf("%d snapshot rows, want the one of the sync", n)
			}
			if n := b.rig.count(b.ctx, `SELECT count(*) FROM gaps WHERE exchange = $1 AND data_type = 'orderbook'`, ex); n != 0 {
				t.Fatalf("%d order book gaps, want none", n)
			}
			moments := 0
			for i, at := range after() {
				moments++
				q := strings.NewReplacer("'okx'::text AS exchange", "'"+string(ex)+"'::text AS exchange",
					"'BTC-USDT'::text AS symbol", "'"+string(b.sym)+"'::text AS symbol",
					"TIMESTAMPTZ '2024-03-01 12:00:05+00' AS at", "TIMESTAMPTZ '"+at.Format(time.RFC3339Nano)+"' AS at").Replace(query)
				got := rebuiltBook(t, b, q)
				book := b.full[at]
				var want strings.Builder
				for _, l := range book[0] {
					if l.Price.GreaterThanOrEqual(worstBid) {
						fmt.Fprintf(&want, "bid %s %s\n", exact(l.Price), exact(l.Size))
					}
				}
				for _, l := range book[1] {
					if l.Price.LessThanOrEqual(worstAsk) {
						fmt.Fprintf(&want, "ask %s %s\n", exact(l.Price), exact(l.Size))
					}
				}
				if d := firstDifference(got, want.String()); d != "" {
					t.Errorf("book rebuilt at %s (moment %d) differs from the simulator's: %s", at, i, d)
				}
			}
			if moments < 5 {
				t.Fatalf("%d moments after the snapshot compared, want at least 5", moments)
			}
		})
	}
}

// rebuiltBook runs the rebuild query q and renders its rows as
// "side price size" lines.
func rebuiltBook(t *testing.T, b *bookRig, q string) string {
	t.Helper()
	rows, err := b.rig.pool.Query(b.ctx, q)
	if err != nil {
		t.Fatalf("rebuild query: %v\n%s", err, q)
	}
	defer rows.Close()
	var out strings.Builder
	for rows.Next() {
		var side, price, size string
		if err := rows.Scan(&side, &price, &size); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s %s %s\n", side, price, size)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// firstDifference describes the first line where got and want differ, or
// returns "".
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("%d and %d lines; line %d: got %q, want %q", len(g)-1, len(w)-1, i+1, gl, wl)
		}
	}
	return ""
}

// TestQuietBookStored: a book that gets no message still gets a
// book_snapshots row every book_interval through the whole service, each
// with the time and update id of its last update (so each equals the
// simulator's book at that id) and its own received_at.
func TestQuietBookStored(t *testing.T) {
	b := startBookRigWith(t, market.OKX, bookRigOptions{interval: 20 * time.Millisecond})
	b.step(1)
	_, _, id, at, _ := b.sim.Book(market.OKX, b.sym)
	eventually(t, "three rows of the unchanged book", func() (bool, string) {
		n := b.rig.count(b.ctx, `SELECT count(DISTINCT received_at) FROM book_snapshots WHERE exchange = 'okx' AND symbol = $1 AND sequence = $2 AND ts = $3`, b.sym, id, at)
		return n >= 3, fmt.Sprintf("%d rows at update %d", n, id)
	})
	if n := b.checkRows(); n < 3 {
		t.Errorf("%d rows checked, want at least 3", n)
	}
	var spread time.Duration
	if err := b.rig.pool.QueryRow(b.ctx, `SELECT EXTRACT(EPOCH FROM max(received_at) - min(received_at)) * interval '1 second'
		FROM book_snapshots WHERE exchange = 'okx' AND symbol = $1 AND sequence = $2`, b.sym, id).Scan(&spread); err != nil {
		t.Fatal(err)
	}
	if spread < 40*time.Millisecond {
		t.Errorf("the rows of the unchanged book were taken within %s, want at least two intervals (40ms) apart", spread)
	}
}

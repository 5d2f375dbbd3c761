package store

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"marketetl/book"
	"marketetl/market"
)

// exactText writes d with its own decimal places, as numeric::text does.
func exactText(d decimal.Decimal) string {
	if e := d.Exponent(); e < 0 {
		return d.StringFixed(-e)
	}
	return d.String()
}

func TestBookSnapshotExactDecimals(t *testing.T) {
	_, pool := migratedDB(t)
	b := book.New()
	err := b.Load(
		[]market.Level{{Price: dec("0.00012000"), Size: dec("5")}, {Price: dec("0.00012100"), Size: dec("1.50")}, {Price: dec("0.000119"), Size: dec("7")}},
		[]market.Level{{Price: dec("0.00012200"), Size: dec("1000000")}, {Price: dec("0.0001230"), Size: dec("0.001")}})
	if err != nil {
		t.Fatal(err)
	}
	b.Sequence, b.Time = 4242, t0
	s := b.Snapshot(market.Meta{Exchange: market.Binance, Symbol: "PEPE-USDT", Received: t0.Add(time.Second)}, 2)
	stats := writeBatch(t, pool, s)
	if got := stats.Tables[TableBookSnapshots].Inserted; got != 1 {
		t.Fatalf("inserted %d, want 1", got)
	}
	var got string
	err = pool.QueryRow(t.Context(), `SELECT concat_ws('|', sequence, depth, bids, asks, bids[1][1], asks[2][2])
		FROM book_snapshots WHERE symbol = 'PEPE-USDT'`).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	want := "4242|2|{{0.00012100,1.50},{0.00012000,5}}|{{0.00012200,1000000},{0.0001230,0.001}}|0.00012100|0.001"
	if got != want {
		t.Errorf("stored %s\nwant   %s", got, want)
	}
}

// TestQuietBookSnapshotRows: the rows of an unchanged book, taken at
// successive intervals with the same ts and sequence, are each stored
// (received_at is part of the key, migration 10), and writing the same
// rows again stores nothing new.
func TestQuietBookSnapshotRows(t *testing.T) {
	_, pool := migratedDB(t)
	b := book.New()
	if err := b.Load([]market.Level{{Price: dec("100.0"), Size: dec("1")}}, []market.Level{{Price: dec("100.5"), Size: dec("2")}}); err != nil {
		t.Fatal(err)
	}
	b.Sequence, b.Time = 77, t0
	var rows []market.Record
	for i := range 3 {
		rows = append(rows, b.Snapshot(market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Received: t0.Add(time.Duration(i+1) * time.Second)}, 5))
	}
	first := writeBatch(t, pool, rows...)
	second := writeBatch(t, pool, rows...)
	if f, s := first.Tables[TableBookSnapshots], second.Tables[TableBookSnapshots]; f.Inserted != 3 || s.Inserted != 0 || s.Skipped != 3 {
		t.Fatalf("first %+v, second %+v; want 3 inserted, then 3 skipped", f, s)
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(DISTINCT received_at) FROM book_snapshots WHERE ts = $1 AND sequence = 77`, t0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d rows of the unchanged book, want 3", n)
	}
}

func TestBookUpdatesStoredOnce(t *testing.T) {
	_, pool := migratedDB(t)
	m := market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Time: t0, Received: t0.Add(time.Millisecond)}
	updates := []market.Record{
		&market.BookUpdate{Meta: m, Sequence: 7, BookChange: market.BookChange{Side: market.Bid, Price: dec("42000.10"), Size: dec("0.500")}},
		&market.BookUpdate{Meta: m, Sequence: 7, BookChange: market.BookChange{Side: market.Ask, Price: dec("42000.2"), Size: dec("0")}},
		&market.BookUpdate{Meta: m, Sequence: 7, BookChange: market.BookChange{Side: market.Ask, Price: dec("42000.10"), Size: dec("1")}},
	}
	first := writeBatch(t, pool, updates...)
	second := writeBatch(t, pool, updates...)
	if f, s := first.Tables[TableBookUpdates], second.Tables[TableBookUpdates]; f.Inserted != 3 || s.Inserted != 0 || s.Skipped != 3 {
		t.Fatalf("first %+v, second %+v; want 3 inserted, then 3 skipped", f, s)
	}
	if _, err := pool.Exec(t.Context(), `SET TIME ZONE 'UTC'`); err != nil {
		t.Fatal(err)
	}
	var got string
	err := pool.QueryRow(t.Context(), `SELECT string_agg(concat_ws('|', exchange, symbol, ts AT TIME ZONE 'UTC', sequence, side, price, size), ' ' ORDER BY side, price)
		FROM book_updates`).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	want := "okx|BTC-USDT|2024-03-01 12:00:00|7|ask|42000.10|1 okx|BTC-USDT|2024-03-01 12:00:00|7|ask|42000.2|0 okx|BTC-USDT|2024-03-01 12:00:00|7|bid|42000.10|0.500"
	if got != want {
		t.Errorf("stored %s\nwant   %s", got, want)
	}
}

// readmeBookQueries returns the SQL examples of README.md's "Order books
// in SQL" section, in order: spread, depth, imbalance, rebuild.
func readmeBookQueries(t *testing.T) []string {
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
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	if len(out) != 4 {
		t.Fatalf("found %d SQL examples in the order-book section, want 4", len(out))
	}
	return out
}

// bookHistory is a book's evolution over 120 messages with what was
// stored: snapshots (top 10) after messages 0 and 60, every change.
type bookHistory struct {
	states    []*book.Book // the full book after each message
	snapshots map[int]*market.BookSnapshot
	recs      []market.Record
}

func msgTime(i int) time.Time { return t0.Add(time.Duration(i) * 100 * time.Millisecond) }

func newBookHistory(t *testing.T) *bookHistory {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	meta := market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT"}
	price := func(sd market.BookSide) decimal.Decimal {
		if sd == market.Bid {
			return decimal.New(9900+int64(r.IntN(100)), -2) // 99.00 .. 99.99
		}
		return decimal.New(10000+int64(r.IntN(100)), -2) // 100.00 .. 100.99
	}
	size := func() decimal.Decimal { return decimal.New(1+int64(r.IntN(5000)), -3) }
	h := &bookHistory{snapshots: map[int]*market.BookSnapshot{}}
	cur := book.New()
	var changes []market.BookChange
	for range 60 {
		sd := market.Bid
		if r.IntN(2) == 0 {
			sd = market.Ask
		}
		changes = append(changes, market.BookChange{Side: sd, Price: price(sd), Size: size()})
	}
	for i := 0; i <= 120; i++ {
		if i > 0 {
			changes = changes[:0]
			seen := map[string]bool{} // an exchange changes a level once per message
			for range 1 + r.IntN(4) {
				sd := market.Bid
				if r.IntN(2) == 0 {
					sd = market.Ask
				}
				sz := size()
				if r.IntN(3) == 0 {
					sz = decimal.New(0, -3) // removes (or removes nothing)
				}
				p := price(sd)
				if seen[string(sd)+p.String()] {
					continue
				}
				seen[string(sd)+p.String()] = true
				changes = append(changes, market.BookChange{Side: sd, Price: p, Size: sz})
			}
		}
		if err := cur.Apply(changes); err != nil {
			t.Fatal(err)
		}
		cur.Sequence, cur.Time = 1000+int64(i), msgTime(i)
		m := meta
		m.Time, m.Received = cur.Time, cur.Time.Add(5*time.Millisecond)
		if i > 0 {
			for _, c := range changes {
				h.recs = append(h.recs, &market.BookUpdate{Meta: m, BookChange: c, Sequence: cur.Sequence})
			}
		}
		if i == 0 || i == 60 {
			s := cur.Snapshot(m, 10)
			h.snapshots[i] = s
			h.recs = append(h.recs, s)
		}
		state := book.New()
		bids, asks := cur.Top(0, nil, nil)
		if err := state.Load(bids, asks); err != nil {
			t.Fatal(err)
		}
		h.states = append(h.states, state)
	}
	return h
}

// TestReadmeRebuildBook runs the README's rebuild query at moments on
// and between messages and compares it, level for level, with the book
// at that moment within the range the snapshot covers.
func TestReadmeRebuildBook(t *testing.T) {
	_, pool := migratedDB(t)
	h := newBookHistory(t)
	writeBatch(t, pool, h.recs...)
	query := readmeBookQueries(t)[3]
	const at = "TIMESTAMPTZ '2024-03-01 12:00:05+00'"
	if !strings.Contains(query, at) {
		t.Fatalf("the rebuild query does not set the moment as %s", at)
	}
	for _, tt := range []struct {
		msg   int
		after time.Duration
	}{{0, 0}, {1, 0}, {30, 50 * time.Millisecond}, {59, 0}, {60, 0}, {61, 0}, {120, 0}, {120, time.Hour}} {
		t.Run(fmt.Sprintf("message %d + %s", tt.msg, tt.after), func(t *testing.T) {
			moment := msgTime(tt.msg).Add(tt.after)
			q := strings.Replace(query, at, "TIMESTAMPTZ '"+moment.Format(time.RFC3339Nano)+"'", 1)
			got := rebuilt(t, pool, q)
			snap := h.snapshots[0]
			if tt.msg >= 60 {
				snap = h.snapshots[60]
			}
			want := expectedBook(h.states[tt.msg], snap)
			if got != want {
				t.Errorf("rebuilt\n%s\nwant\n%s", got, want)
			}
		})
	}
	t.Run("before the first snapshot", func(t *testing.T) {
		q := strings.Replace(query, at, "TIMESTAMPTZ '2024-03-01 11:59:59+00'", 1)
		if got := rebuilt(t, pool, q); got != "" {
			t.Errorf("rebuilt %q, want nothing", got)
		}
	})
}

func rebuilt(t *testing.T, pool *pgxpool.Pool, q string) string {
	t.Helper()
	rows, err := pool.Query(t.Context(), q)
	if err != nil {
		t.Fatalf("rebuild query: %v", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var side, price, size string
		if err := rows.Scan(&side, &price, &size); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", side, price, size)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// expectedBook lists state's levels within the price range snap covers.
func expectedBook(state *book.Book, snap *market.BookSnapshot) string {
	var b strings.Builder
	bids, asks := state.Top(0, nil, nil)
	worstBid, worstAsk := snap.Bids[len(snap.Bids)-1].Price, snap.Asks[len(snap.Asks)-1].Price
	for _, l := range bids {
		if l.Price.GreaterThanOrEqual(worstBid) {
			fmt.Fprintf(&b, "bid %s %s\n", exactText(l.Price), exactText(l.Size))
		}
	}
	for _, l := range asks {
		if l.Price.LessThanOrEqual(worstAsk) {
			fmt.Fprintf(&b, "ask %s %s\n", exactText(l.Price), exactText(l.Size))
		}
	}
	return b.String()
}

// TestReadmeBookStatistics runs the README's spread, depth and imbalance
// examples over stored snapshots and checks every value.
func TestReadmeBookStatistics(t *testing.T) {
	_, pool := migratedDB(t)
	h := newBookHistory(t)
	writeBatch(t, pool, h.recs...)
	queries := readmeBookQueries(t)
	snaps := []*market.BookSnapshot{h.snapshots[0], h.snapshots[60]}
	sum := func(ls []market.Level, keep func(i int, l market.Level) bool) decimal.Decimal {
		total := decimal.Zero
		for i, l := range ls {
			if keep(i, l) {
				total = total.Add(l.Size)
			}
		}
		return total
	}
	two := decimal.NewFromInt(2)
	tests := []struct {
		name  string
		query string
		cols  int
		want  func(s *market.BookSnapshot) []decimal.Decimal
	}{
		{"spread", queries[0], 4, func(s *market.BookSnapshot) []decimal.Decimal {
			bid, ask := s.Bids[0].Price, s.Asks[0].Price
			spread := ask.Sub(bid)
			return []decimal.Decimal{bid, ask, spread, spread.Div(ask.Add(bid).Div(two)).Mul(decimal.NewFromInt(10000)).Round(2)}
		}},
		{"depth within 10 bps", queries[1], 2, func(s *market.BookSnapshot) []decimal.Decimal {
			mid := s.Bids[0].Price.Add(s.Asks[0].Price).Div(two)
			low, high := mid.Mul(dec("0.999")), mid.Mul(dec("1.001"))
			return []decimal.Decimal{
				sum(s.Bids, func(_ int, l market.Level) bool { return l.Price.GreaterThanOrEqual(low) }),
				sum(s.Asks, func(_ int, l market.Level) bool { return l.Price.LessThanOrEqual(high) }),
			}
		}},
		{"imbalance", queries[2], 1, func(s *market.BookSnapshot) []decimal.Decimal {
			b := sum(s.Bids, func(i int, _ market.Level) bool { return i < 5 })
			a := sum(s.Asks, func(i int, _ market.Level) bool { return i < 5 })
			return []decimal.Decimal{b.Sub(a).Div(b.Add(a)).Round(4)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.query
			for _, r := range [][2]string{
				{"now() - interval '1 hour'", "TIMESTAMPTZ '2024-01-01'"},
				{"'binance'", "'okx'"}, {"'coinbase'", "'okx'"}, {"'BTC-USD'", "'BTC-USDT'"},
			} {
				q = strings.ReplaceAll(q, r[0], r[1])
			}
			rows, err := pool.Query(t.Context(), q)
			if err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				if n >= len(snaps) {
					t.Fatalf("more rows than the %d snapshots", len(snaps))
				}
				want := tt.want(snaps[n])
				got := vals[len(vals)-tt.cols:]
				for i := range want {
					g, ok := got[i].(pgtype.Numeric)
					if !ok || !g.Valid || !decimal.NewFromBigInt(g.Int, g.Exp).Equal(want[i]) {
						t.Errorf("row %d column %d: %v, want %s", n, i, got[i], want[i])
					}
				}
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if n != len(snaps) {
				t.Errorf("%d rows, want %d", n, len(snaps))
			}
		})
	}
}

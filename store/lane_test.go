package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"marketetl/market"
)

// TestDecimalsRoundTrip stores decimals and reads them back as text: every
// digit and the scale (trailing zeros) must survive.
func TestDecimalsRoundTrip(t *testing.T) {
	_, pool := migratedDB(t)
	tests := []struct {
		name, in, want string
	}{
		{"18 significant digits", "12345678.9012345678", "12345678.9012345678"},
		{"18 significant digits, tiny", "0.000000012345678901", "0.000000012345678901"},
		{"trailing zero kept", "0.10", "0.10"},
		{"integer", "100", "100"},
		{"trailing zeros after integer", "5.000", "5.000"},
		{"exponent form", "1e3", "1000"},
		{"48 digits", "123456789012345678901234567890.123456789012345678", "123456789012345678901234567890.123456789012345678"},
		{"smallest satoshi", "0.00000001", "0.00000001"},
	}
	var recs []market.Record
	for i, tt := range tests {
		recs = append(recs, trade(i+1, tt.in, tt.in))
	}
	writeBatch(t, pool, recs...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var price, size string
			err := pool.QueryRow(t.Context(), `SELECT price::text, size::text FROM trades WHERE trade_id = $1`,
				fmt.Sprint(i+1)).Scan(&price, &size)
			if err != nil {
				t.Fatal(err)
			}
			if price != tt.want || size != tt.want {
				t.Fatalf("stored price %s, size %s; want %s", price, size, tt.want)
			}
		})
	}
}

// TestEveryTableRoundTrip stores one record of each type and reads every
// column back as text.
func TestEveryTableRoundTrip(t *testing.T) {
	_, pool := migratedDB(t)
	ts := t0
	recv := t0.Add(1500 * time.Millisecond)
	m := market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: ts, Received: recv}
	c := &market.Candle{Meta: m, Timeframe: market.TF1h, Open: dec("100.10"), High: dec("101"), Low: dec("99.5"),
		Close: dec("100.2"), Volume: dec("12.000"), QuoteVolume: nullDec("1200.5"), Trades: 42, Closed: true}
	tk := &market.Ticker{Meta: m, Last: nullDec("100.10"), Bid: nullDec("100.09"), Ask: nullDec("100.11"),
		BidSize: nullDec("0.5"), Volume24h: nullDec("1000.00")}
	b := &market.BookSnapshot{Meta: m, Sequence: 77, Checksum: -123,
		Bids: []market.Level{{Price: dec("100.09"), Size: dec("1.0")}, {Price: dec("100.08"), Size: dec("2")}},
		Asks: []market.Level{{Price: dec("100.11"), Size: dec("0.30")}}}
	empty := &market.BookSnapshot{Meta: market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: ts.Add(time.Second), Received: recv}}
	bal := &market.Balance{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC", Time: ts, Received: recv},
		Account: "spot", Free: dec("0.00100000"), Locked: dec("0")}
	stats := writeBatch(t, pool, c, tk, b, empty, bal)
	for _, table := range []string{TableCandles, TableTickers, TableBalances} {
		if got := stats.Tables[table].Inserted; got != 1 {
			t.Errorf("%s: inserted %d, want 1", table, got)
		}
	}
	if got := stats.Tables[TableBookSnapshots].Inserted; got != 2 {
		t.Errorf("book_snapshots: inserted %d, want 2", got)
	}

	tests := []struct {
		name, query, want string
	}{
		{"candle", `SELECT concat_ws('|', exchange, symbol, timeframe, ts, open, high, low, close, volume,
			quote_volume, trades, closed, received_at) FROM candles`,
			"coinbase|BTC-USD|1h|2024-03-01 12:00:00+00|100.10|101|99.5|100.2|12.000|1200.5|42|t|2024-03-01 12:00:01.5+00"},
		{"ticker", `SELECT concat_ws('|', exchange, symbol, ts, last, bid, ask, bid_size, coalesce(ask_size::text, 'NULL'),
			coalesce(open_24h::text, 'NULL'), volume_24h, coalesce(quote_volume_24h::text, 'NULL'), received_at) FROM tickers`,
			"coinbase|BTC-USD|2024-03-01 12:00:00+00|100.10|100.09|100.11|0.5|NULL|NULL|1000.00|NULL|2024-03-01 12:00:01.5+00"},
		{"book", `SELECT concat_ws('|', sequence, checksum, depth, bids, asks, bids[1][1], asks[1][2])
			FROM book_snapshots WHERE sequence = 77`,
			"77|-123|2|{{100.09,1.0},{100.08,2}}|{{100.11,0.30}}|100.09|0.30"},
		{"empty book", `SELECT concat_ws('|', sequence, coalesce(checksum::text, 'NULL'), depth, bids, asks)
			FROM book_snapshots WHERE sequence = 0`,
			"0|NULL|0|{}|{}"},
		{"balance", `SELECT concat_ws('|', exchange, account, asset, ts, free, locked) FROM balances`,
			"okx|spot|BTC|2024-03-01 12:00:00+00|0.00100000|0"},
	}
	if _, err := pool.Exec(t.Context(), `SET TIME ZONE 'UTC'`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := pool.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			if _, err := conn.Exec(t.Context(), `SET TIME ZONE 'UTC'`); err != nil {
				t.Fatal(err)
			}
			var got string
			if err := conn.QueryRow(t.Context(), tt.query).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestDedup: replays and overlaps never duplicate, and candle versions
// follow the rules: closed beats forming, later forming beats earlier.
func TestDedup(t *testing.T) {
	_, pool := migratedDB(t)

	t.Run("same trade batch twice", func(t *testing.T) {
		batch := trades(1000, 50)
		first := writeBatch(t, pool, batch...)
		second := writeBatch(t, pool, batch...)
		if got := count(t, pool, `SELECT count(*) FROM trades WHERE trade_id::int BETWEEN 1000 AND 1049`); got != 50 {
			t.Fatalf("%d rows, want 50", got)
		}
		if f, s := first.Tables[TableTrades], second.Tables[TableTrades]; f.Inserted != 50 || s.Inserted != 0 || s.Skipped != 50 {
			t.Fatalf("first %+v, second %+v; want 50 inserted, then 50 skipped", f, s)
		}
	})
	t.Run("overlapping and repeated trades in one batch", func(t *testing.T) {
		batch := append(trades(2000, 10), trades(2005, 10)...)
		batch = append(batch, batch[0], batch[0])
		st := writeBatch(t, pool, batch...)
		if got := count(t, pool, `SELECT count(*) FROM trades WHERE trade_id::int BETWEEN 2000 AND 2999`); got != 15 {
			t.Fatalf("%d rows, want 15", got)
		}
		if s := st.Tables[TableTrades]; s.Inserted != 15 || s.Skipped != 7 {
			t.Fatalf("stats %+v; want 15 inserted, 7 skipped", s)
		}
	})

	tests := []struct {
		name    string
		batches [][]market.Record
		// wantClose and wantClosed describe the stored candle; the counts
		// are the last batch's.
		wantClose               string
		wantClosed              bool
		inserted, updated, skip uint64
	}{
		{name: "forming then its closed version",
			batches:   [][]market.Record{{candle(0, "11", false, 1)}, {candle(0, "12", true, 2)}},
			wantClose: "12", wantClosed: true, updated: 1},
		{name: "closed is not overwritten by a late forming one",
			batches:   [][]market.Record{{candle(1, "12", true, 2)}, {candle(1, "13", false, 3)}},
			wantClose: "12", wantClosed: true, skip: 1},
		{name: "closed replaced by a later closed one",
			batches:   [][]market.Record{{candle(2, "12", true, 2)}, {candle(2, "14", true, 9)}},
			wantClose: "14", wantClosed: true, updated: 1},
		{name: "forming replaced by a later forming one",
			batches:   [][]market.Record{{candle(3, "11", false, 1)}, {candle(3, "13", false, 2)}},
			wantClose: "13", wantClosed: false, updated: 1},
		{name: "an older forming one is ignored",
			batches:   [][]market.Record{{candle(4, "13", false, 5)}, {candle(4, "11", false, 2)}},
			wantClose: "13", wantClosed: false, skip: 1},
		{name: "identical replay changes nothing",
			batches:   [][]market.Record{{candle(5, "12", true, 2)}, {candle(5, "12", true, 2)}},
			wantClose: "12", wantClosed: true, skip: 1},
		{name: "versions in one batch: closed wins over a later forming one",
			batches:   [][]market.Record{{candle(6, "11", false, 1), candle(6, "12", true, 2), candle(6, "13", false, 3)}},
			wantClose: "12", wantClosed: true, inserted: 1, skip: 2},
		{name: "versions in one batch: latest forming wins",
			batches:   [][]market.Record{{candle(7, "13", false, 3), candle(7, "11", false, 1), candle(7, "12", false, 2)}},
			wantClose: "13", wantClosed: false, inserted: 1, skip: 2},
		{name: "versions in one batch: the last of equal ones wins",
			batches:   [][]market.Record{{candle(8, "11", true, 1), candle(8, "12", true, 1)}},
			wantClose: "12", wantClosed: true, inserted: 1, skip: 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each case has its own candle
			var st Stats
			for _, b := range tt.batches {
				st = writeBatch(t, pool, b...)
			}
			var closeP string
			var closed bool
			var n int
			err := pool.QueryRow(t.Context(), `SELECT close::text, closed, count(*) OVER () FROM candles
				WHERE exchange = 'binance' AND symbol = 'ETH-USDT' AND timeframe = '1m' AND ts = $1`,
				t0.Add(time.Duration(i)*time.Minute)).Scan(&closeP, &closed, &n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 || closeP != tt.wantClose || closed != tt.wantClosed {
				t.Fatalf("stored %d rows, close %s closed %v; want 1 row, close %s closed %v",
					n, closeP, closed, tt.wantClose, tt.wantClosed)
			}
			c := st.Tables[TableCandles]
			if c.Inserted != tt.inserted || c.Updated != tt.updated || c.Skipped != tt.skip {
				t.Fatalf("last batch: inserted %d updated %d skipped %d; want %d %d %d",
					c.Inserted, c.Updated, c.Skipped, tt.inserted, tt.updated, tt.skip)
			}
		})
	}
}

// TestRefusedRowsIsolated: rows the database refuses for good go to rejects
// with their SQLSTATE; the rest of the batch is stored.
func TestRefusedRowsIsolated(t *testing.T) {
	_, pool := migratedDB(t)
	batch := trades(1, 10)
	batch[3] = trade(4, "-1", "0.01")
	badSide := trade(7, "100", "1")
	badSide.Side = "hold"
	batch[6] = badSide
	nul := trade(9, "100", "1")
	nul.TradeID = "9\x00"
	batch[8] = nul
	highLow := candle(2, "10", true, 1)
	highLow.High, highLow.Low = dec("5"), dec("20")
	batch = append(batch, candle(1, "10", true, 1), highLow, candle(3, "10", true, 1))

	st := writeBatch(t, pool, batch...)
	if got := count(t, pool, `SELECT count(*) FROM trades`); got != 7 {
		t.Errorf("%d trades stored, want 7", got)
	}
	if got := count(t, pool, `SELECT count(*) FROM candles`); got != 2 {
		t.Errorf("%d candles stored, want 2", got)
	}
	if tr, c := st.Tables[TableTrades], st.Tables[TableCandles]; tr.Inserted != 7 || tr.Rejected != 3 || c.Inserted != 2 || c.Rejected != 1 {
		t.Errorf("stats trades %+v, candles %+v", tr, c)
	}
	if st.RejectsStored != 4 {
		t.Errorf("RejectsStored %d, want 4", st.RejectsStored)
	}

	type reject struct{ DataType, Reason, Field, SQLState, Raw string }
	rows, err := pool.Query(t.Context(), `SELECT data_type, reason, coalesce(field, ''), sqlstate, raw
		FROM rejects ORDER BY data_type, sqlstate, field`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[reject])
	if err != nil {
		t.Fatal(err)
	}
	want := []reject{
		{"candle", ReasonDatabaseRefused, "candles_high_low", "23514", `"High":"5"`},
		{"trade", ReasonDatabaseRefused, "", "22021", `"TradeID":"9\u0000"`},
		{"trade", ReasonDatabaseRefused, "trades_price_check", "23514", `"Price":"-1"`},
		{"trade", ReasonDatabaseRefused, "trades_side_check", "23514", `"Side":"hold"`},
	}
	if len(got) != len(want) {
		t.Fatalf("rejects %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.DataType != w.DataType || g.Reason != w.Reason || g.Field != w.Field || g.SQLState != w.SQLState ||
			!strings.Contains(g.Raw, w.Raw) {
			t.Errorf("reject %d: %+v, want %+v (raw containing %s)", i, g, w, w.Raw)
		}
	}
}

// TestUnstorableValue: a decimal PostgreSQL cannot hold is kept in rejects
// instead of failing its batch.
func TestUnstorableValue(t *testing.T) {
	_, pool := migratedDB(t)
	bad := trade(2, "1", "1")
	bad.Price = decimal.New(1, -20000)
	st := writeBatch(t, pool, trade(1, "1", "1"), bad, trade(3, "1", "1"))
	if got := count(t, pool, `SELECT count(*) FROM trades`); got != 2 {
		t.Errorf("%d trades stored, want 2", got)
	}
	if got := count(t, pool, `SELECT count(*) FROM rejects WHERE reason = $1 AND detail LIKE 'price:%'`, ReasonUnstorable); got != 1 {
		t.Errorf("%d unstorable rejects, want 1", got)
	}
	if s := st.Tables[TableTrades]; s.Rejected != 1 || s.Inserted != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestRetryAfterBackendTerminated kills the writer's backend in the middle
// of a flush (a trigger that terminates its own session once): the flush is
// retried on a new connection and every row arrives exactly once.
func TestRetryAfterBackendTerminated(t *testing.T) {
	_, pool := migratedDB(t)
	_, err := pool.Exec(t.Context(), `
		CREATE SEQUENCE kill_once;
		CREATE FUNCTION kill_once() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('kill_once') = 1 THEN
				PERFORM pg_terminate_backend(pg_backend_pid());
			END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER kill_once BEFORE INSERT ON trades FOR EACH STATEMENT EXECUTE FUNCTION kill_once();`)
	if err != nil {
		t.Fatal(err)
	}
	flushed := newFlushes()
	r := startWriter(t, Config{BatchSize: 100, FlushInterval: time.Hour, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond,
		OnFlush: flushed.hook}, pool)
	for _, rec := range trades(1, 100) {
		if err := r.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	res := flushed.next(t)
	if res.Inserted != 100 || res.Retries < 1 {
		t.Fatalf("flush %+v; want 100 inserted after at least one retry", res)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := count(t, pool, `SELECT count(*) FROM trades`); got != 100 {
		t.Fatalf("%d rows, want 100", got)
	}
	if got := count(t, pool, `SELECT count(DISTINCT trade_id) FROM trades`); got != 100 {
		t.Fatalf("%d distinct trades, want 100", got)
	}
	if got := count(t, pool, `SELECT last_value FROM kill_once`); got < 2 {
		t.Fatalf("the trigger ran %d times: the backend was not killed", got)
	}
}

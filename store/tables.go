package store

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"marketetl/market"
)

// The tables the Writer fills.
const (
	TableTrades        = "trades"
	TableTickers       = "tickers"
	TableCandles       = "candles"
	TableBookSnapshots = "book_snapshots"
	TableBalances      = "balances"
	TableRejects       = "rejects"
)

// column is a staging column: its name and SQL type.
type column struct{ name, typ string }

// table says how rows of type T reach their target table: the columns
// copied (in the order encode writes them), the staging table and the
// statement that merges it into the target.
type table[T any] struct {
	name string
	// stage is the temporary staging table; "" copies straight into name
	// (rejects, which have no natural key).
	stage   string
	columns []column
	// merge moves the staging rows into the target. When upsert is false
	// its row count is the number of rows inserted; when true it returns
	// one row of two counts: inserted and updated.
	merge  string
	upsert bool
	// seq puts a first column, seq integer, in the staging table: the
	// row's position in the batch, counting from 1, for the merge's order.
	seq bool
	// encode writes row's fields to a binary COPY stream, in the order of
	// columns (the tuple's header and seq are written by the lane).
	encode func(row T, e *copyEncoder)
	// received is when the frame carrying row was read.
	received func(row T) time.Time
	// refusal describes row for the rejects table when the database
	// refuses it; nil for the rejects table itself.
	refusal func(row T) market.Reject
}

// stageColumns are the staging table's columns: seq first if the table
// has it, then columns.
func (t *table[T]) stageColumns() []column {
	if !t.seq {
		return t.columns
	}
	return append([]column{{"seq", "integer"}}, t.columns...)
}

// copyStage is the COPY statement into the staging table (or into the
// target when there is none).
func (t *table[T]) copyStage() string {
	if t.stage == "" {
		return copySQL(t.name, t.columns)
	}
	return copySQL(t.stage, t.stageColumns())
}

// parallel reports whether the rows of a batch may be stored in any order,
// in parts by concurrent COPY writers: the merge only inserts.
func (t *table[T]) parallel() bool { return !t.upsert && t.stage != "" }

// copyTarget is the COPY statement straight into the target table. When
// no key of a batch is stored yet and none repeats within it, copying it
// there stores exactly what the merge would (for candles too: every row
// inserted, updated_at by its default now()); otherwise the COPY fails with
// unique_violation and changes nothing.
func (t *table[T]) copyTarget() string { return copySQL(t.name, t.columns) }

// createStage returns the DDL of the staging table: temporary (one per
// connection, reused by every flush on it) and emptied at each commit.
func (t *table[T]) createStage() string {
	var b strings.Builder
	b.WriteString("CREATE TEMP TABLE IF NOT EXISTS ")
	b.WriteString(t.stage)
	b.WriteString(" (")
	for i, c := range t.stageColumns() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name + " " + c.typ)
	}
	b.WriteString(") ON COMMIT DELETE ROWS")
	return b.String()
}

func refusalOf(rec market.Record) market.Reject {
	h := rec.Header()
	return market.Reject{Received: h.Received, Exchange: h.Exchange, Symbol: h.Symbol, Type: rec.DataType(), Raw: recordJSON(rec)}
}

var tradesTable = table[*market.Trade]{
	name:  TableTrades,
	stage: "etl_stage_trades",
	columns: []column{
		{"exchange", "text"}, {"symbol", "text"}, {"trade_id", "text"}, {"ts", "timestamptz"},
		{"price", "numeric"}, {"size", "numeric"}, {"side", "text"}, {"received_at", "timestamptz"},
	},
	merge: `INSERT INTO trades (exchange, symbol, trade_id, ts, price, size, side, received_at)
SELECT exchange, symbol, trade_id, ts, price, size, side, received_at FROM etl_stage_trades
ON CONFLICT (exchange, symbol, trade_id, ts) DO NOTHING`,
	encode: func(t *market.Trade, e *copyEncoder) {
		e.text(string(t.Exchange))
		e.text(string(t.Symbol))
		e.text(t.TradeID)
		e.timestamptz(t.Time)
		e.numeric(t.Price)
		e.numeric(t.Size)
		e.text(string(t.Side))
		e.timestamptz(t.Received)
	},
	received: func(t *market.Trade) time.Time { return t.Received },
	refusal:  func(t *market.Trade) market.Reject { return refusalOf(t) },
}

var tickersTable = table[*market.Ticker]{
	name:  TableTickers,
	stage: "etl_stage_tickers",
	columns: []column{
		{"exchange", "text"}, {"symbol", "text"}, {"ts", "timestamptz"},
		{"last", "numeric"}, {"bid", "numeric"}, {"ask", "numeric"}, {"bid_size", "numeric"}, {"ask_size", "numeric"},
		{"open_24h", "numeric"}, {"high_24h", "numeric"}, {"low_24h", "numeric"},
		{"volume_24h", "numeric"}, {"quote_volume_24h", "numeric"}, {"received_at", "timestamptz"},
	},
	merge: `INSERT INTO tickers (exchange, symbol, ts, last, bid, ask, bid_size, ask_size,
    open_24h, high_24h, low_24h, volume_24h, quote_volume_24h, received_at)
SELECT exchange, symbol, ts, last, bid, ask, bid_size, ask_size,
    open_24h, high_24h, low_24h, volume_24h, quote_volume_24h, received_at FROM etl_stage_tickers
ON CONFLICT (exchange, symbol, ts) DO NOTHING`,
	encode: func(t *market.Ticker, e *copyEncoder) {
		e.text(string(t.Exchange))
		e.text(string(t.Symbol))
		e.timestamptz(t.Time)
		e.nullNumeric(t.Last)
		e.nullNumeric(t.Bid)
		e.nullNumeric(t.Ask)
		e.nullNumeric(t.BidSize)
		e.nullNumeric(t.AskSize)
		e.nullNumeric(t.Open24h)
		e.nullNumeric(t.High24h)
		e.nullNumeric(t.Low24h)
		e.nullNumeric(t.Volume24h)
		e.nullNumeric(t.QuoteVolume24h)
		e.timestamptz(t.Received)
	},
	received: func(t *market.Ticker) time.Time { return t.Received },
	refusal:  func(t *market.Ticker) market.Reject { return refusalOf(t) },
}

// candlesTable upserts. Within a batch the closed version of a candle wins,
// then a provisional one, then the latest received, then the latest in the
// batch (DISTINCT ON, since ON CONFLICT DO UPDATE cannot touch a row twice).
// Against the stored row, a closed candle replaces anything; a provisional
// one replaces a forming or provisional one received no later; a forming one
// replaces only a forming one received no later; an identical row is left
// alone (counted as skipped). So a provisional candle never overwrites a
// closed (confirmed) one, and the exchange's closed candle always replaces
// a provisional one. Storing a provisional candle records its check in
// candle_checks, in the same transaction (a trigger of migration 8).
var candlesTable = table[*market.Candle]{
	name:  TableCandles,
	stage: "etl_stage_candles",
	columns: []column{
		{"exchange", "text"}, {"symbol", "text"}, {"timeframe", "text"}, {"ts", "timestamptz"},
		{"open", "numeric"}, {"high", "numeric"}, {"low", "numeric"}, {"close", "numeric"},
		{"volume", "numeric"}, {"quote_volume", "numeric"}, {"trades", "bigint"}, {"closed", "boolean"},
		{"received_at", "timestamptz"}, {"provisional", "boolean"},
	},
	upsert: true,
	seq:    true,
	merge: `WITH merged AS (
    INSERT INTO candles AS c (exchange, symbol, timeframe, ts, open, high, low, close,
        volume, quote_volume, trades, closed, provisional, received_at, updated_at)
    SELECT DISTINCT ON (exchange, symbol, timeframe, ts)
        exchange, symbol, timeframe, ts, open, high, low, close,
        volume, quote_volume, trades, closed, provisional AND NOT closed, received_at, now()
    FROM etl_stage_candles
    ORDER BY exchange, symbol, timeframe, ts, closed DESC, provisional DESC, received_at DESC, seq DESC
    ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        volume = EXCLUDED.volume, quote_volume = EXCLUDED.quote_volume, trades = EXCLUDED.trades,
        closed = EXCLUDED.closed, provisional = EXCLUDED.provisional,
        received_at = EXCLUDED.received_at, updated_at = EXCLUDED.updated_at
    WHERE (EXCLUDED.closed
           OR (NOT c.closed AND (EXCLUDED.provisional OR NOT c.provisional) AND EXCLUDED.received_at >= c.received_at))
      AND (c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.trades, c.closed, c.provisional)
          IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,
                            EXCLUDED.volume, EXCLUDED.quote_volume, EXCLUDED.trades, EXCLUDED.closed, EXCLUDED.provisional)
    RETURNING (c.xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged`,
	encode: func(c *market.Candle, e *copyEncoder) {
		e.text(string(c.Exchange))
		e.text(string(c.Symbol))
		e.text(string(c.Timeframe))
		e.timestamptz(c.Time)
		e.numeric(c.Open)
		e.numeric(c.High)
		e.numeric(c.Low)
		e.numeric(c.Close)
		e.numeric(c.Volume)
		e.nullNumeric(c.QuoteVolume)
		if c.Trades >= 0 {
			e.int64(c.Trades)
		} else {
			e.null()
		}
		e.bool(c.Closed)
		e.timestamptz(c.Received)
		e.bool(c.Provisional && !c.Closed)
	},
	received: func(c *market.Candle) time.Time { return c.Received },
	refusal:  func(c *market.Candle) market.Reject { return refusalOf(c) },
}

var bookSnapshotsTable = table[*market.BookSnapshot]{
	name:  TableBookSnapshots,
	stage: "etl_stage_book_snapshots",
	columns: []column{
		{"exchange", "text"}, {"symbol", "text"}, {"ts", "timestamptz"}, {"sequence", "bigint"},
		{"checksum", "bigint"}, {"depth", "integer"}, {"bids", "numeric[]"}, {"asks", "numeric[]"},
		{"received_at", "timestamptz"},
	},
	merge: `INSERT INTO book_snapshots (exchange, symbol, ts, sequence, checksum, depth, bids, asks, received_at)
SELECT exchange, symbol, ts, sequence, checksum, depth, bids, asks, received_at FROM etl_stage_book_snapshots
ON CONFLICT (exchange, symbol, ts, sequence, received_at) DO NOTHING`,
	encode: func(b *market.BookSnapshot, e *copyEncoder) {
		e.text(string(b.Exchange))
		e.text(string(b.Symbol))
		e.timestamptz(b.Time)
		e.int64(b.Sequence)
		if b.Checksum != 0 {
			e.int64(b.Checksum)
		} else {
			e.null()
		}
		e.int32(int32(max(len(b.Bids), len(b.Asks))))
		levels(e, b.Bids)
		levels(e, b.Asks)
		e.timestamptz(b.Received)
	},
	received: func(b *market.BookSnapshot) time.Time { return b.Received },
	refusal:  func(b *market.BookSnapshot) market.Reject { return refusalOf(b) },
}

// levels writes book levels as a two-dimensional numeric array of
// [price, size] pairs in the binary array format: the number of
// dimensions, a has-nulls flag, the element type, each dimension's length
// and lower bound, then the elements. No levels is the empty array.
func levels(e *copyEncoder, ls []market.Level) {
	at := len(e.buf)
	e.buf = append(e.buf, 0, 0, 0, 0)
	if len(ls) == 0 {
		e.buf = binary.BigEndian.AppendUint32(e.buf, 0)
	} else {
		e.buf = binary.BigEndian.AppendUint32(e.buf, 2)
	}
	e.buf = binary.BigEndian.AppendUint32(e.buf, 0)
	e.buf = binary.BigEndian.AppendUint32(e.buf, pgtype.NumericOID)
	if len(ls) > 0 {
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(ls)))
		e.buf = binary.BigEndian.AppendUint32(e.buf, 1)
		e.buf = binary.BigEndian.AppendUint32(e.buf, 2)
		e.buf = binary.BigEndian.AppendUint32(e.buf, 1)
		for _, l := range ls {
			e.numeric(l.Price)
			e.numeric(l.Size)
		}
	}
	binary.BigEndian.PutUint32(e.buf[at:], uint32(len(e.buf)-at-4))
}

var balancesTable = table[*market.Balance]{
	name:  TableBalances,
	stage: "etl_stage_balances",
	columns: []column{
		{"exchange", "text"}, {"account", "text"}, {"asset", "text"}, {"ts", "timestamptz"},
		{"free", "numeric"}, {"locked", "numeric"}, {"received_at", "timestamptz"},
	},
	merge: `INSERT INTO balances (exchange, account, asset, ts, free, locked, received_at)
SELECT exchange, account, asset, ts, free, locked, received_at FROM etl_stage_balances
ON CONFLICT (exchange, account, asset, ts) DO NOTHING`,
	encode: func(b *market.Balance, e *copyEncoder) {
		e.text(string(b.Exchange))
		e.text(b.Account)
		e.text(string(b.Symbol))
		e.timestamptz(b.Time)
		e.numeric(b.Free)
		e.numeric(b.Locked)
		e.timestamptz(b.Received)
	},
	received: func(b *market.Balance) time.Time { return b.Received },
	refusal:  func(b *market.Balance) market.Reject { return refusalOf(b) },
}

// rejectsTable is copied into directly: a reject has no natural key.
var rejectsTable = table[rejectRow]{
	name: TableRejects,
	columns: []column{
		{"ts", "timestamptz"}, {"exchange", "text"}, {"symbol", "text"}, {"data_type", "text"},
		{"reason", "text"}, {"field", "text"}, {"detail", "text"}, {"sqlstate", "text"},
		{"raw", "text"}, {"raw_bytes", "integer"},
	},
	encode: func(r rejectRow, e *copyEncoder) {
		e.timestamptz(r.ts)
		e.optText(r.exchange)
		e.optText(r.symbol)
		e.optText(r.dataType)
		e.text(r.reason)
		e.optText(r.field)
		e.optText(r.detail)
		e.optText(r.sqlstate)
		e.optText(r.raw)
		if r.rawBytes.Valid {
			e.int32(r.rawBytes.Int32)
		} else {
			e.null()
		}
	},
	received: func(r rejectRow) time.Time { return r.ts },
}

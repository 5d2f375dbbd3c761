package store

import (
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
// copied (in the order values produces them), the staging table and the
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
	// values appends row's values to dst[:0]; seq is the row's position in
	// the batch, counting from 1.
	values func(row T, seq int, dst []any) []any
	// received is when the frame carrying row was read.
	received func(row T) time.Time
	// refusal describes row for the rejects table when the database
	// refuses it; nil for the rejects table itself.
	refusal func(row T) market.Reject
}

func (t *table[T]) columnNames() []string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = c.name
	}
	return names
}

// createStage returns the DDL of the staging table: temporary (one per
// connection, reused by every flush on it) and emptied at each commit.
func (t *table[T]) createStage() string {
	var b strings.Builder
	b.WriteString("CREATE TEMP TABLE IF NOT EXISTS ")
	b.WriteString(t.stage)
	b.WriteString(" (")
	for i, c := range t.columns {
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
	values: func(t *market.Trade, _ int, v []any) []any {
		return append(v[:0], string(t.Exchange), string(t.Symbol), t.TradeID, t.Time,
			num(t.Price), num(t.Size), string(t.Side), t.Received)
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
	values: func(t *market.Ticker, _ int, v []any) []any {
		return append(v[:0], string(t.Exchange), string(t.Symbol), t.Time,
			nullNum(t.Last), nullNum(t.Bid), nullNum(t.Ask), nullNum(t.BidSize), nullNum(t.AskSize),
			nullNum(t.Open24h), nullNum(t.High24h), nullNum(t.Low24h),
			nullNum(t.Volume24h), nullNum(t.QuoteVolume24h), t.Received)
	},
	received: func(t *market.Ticker) time.Time { return t.Received },
	refusal:  func(t *market.Ticker) market.Reject { return refusalOf(t) },
}

// candlesTable upserts. Within a batch the closed version of a candle wins,
// then the latest received, then the latest in the batch (DISTINCT ON, since
// ON CONFLICT DO UPDATE cannot touch a row twice). Against the stored row, a
// closed candle replaces anything; a forming one replaces only a forming one
// received no later; an identical row is left alone (counted as skipped).
var candlesTable = table[*market.Candle]{
	name:  TableCandles,
	stage: "etl_stage_candles",
	columns: []column{
		{"seq", "integer"}, {"exchange", "text"}, {"symbol", "text"}, {"timeframe", "text"}, {"ts", "timestamptz"},
		{"open", "numeric"}, {"high", "numeric"}, {"low", "numeric"}, {"close", "numeric"},
		{"volume", "numeric"}, {"quote_volume", "numeric"}, {"trades", "bigint"}, {"closed", "boolean"},
		{"received_at", "timestamptz"},
	},
	upsert: true,
	merge: `WITH merged AS (
    INSERT INTO candles AS c (exchange, symbol, timeframe, ts, open, high, low, close,
        volume, quote_volume, trades, closed, received_at, updated_at)
    SELECT DISTINCT ON (exchange, symbol, timeframe, ts)
        exchange, symbol, timeframe, ts, open, high, low, close,
        volume, quote_volume, trades, closed, received_at, now()
    FROM etl_stage_candles
    ORDER BY exchange, symbol, timeframe, ts, closed DESC, received_at DESC, seq DESC
    ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        volume = EXCLUDED.volume, quote_volume = EXCLUDED.quote_volume, trades = EXCLUDED.trades,
        closed = EXCLUDED.closed, received_at = EXCLUDED.received_at, updated_at = EXCLUDED.updated_at
    WHERE (EXCLUDED.closed OR (NOT c.closed AND EXCLUDED.received_at >= c.received_at))
      AND (c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.trades, c.closed)
          IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,
                            EXCLUDED.volume, EXCLUDED.quote_volume, EXCLUDED.trades, EXCLUDED.closed)
    RETURNING (c.xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged`,
	values: func(c *market.Candle, seq int, v []any) []any {
		var trades any
		if c.Trades >= 0 {
			trades = c.Trades
		}
		return append(v[:0], int32(seq), string(c.Exchange), string(c.Symbol), string(c.Timeframe), c.Time,
			num(c.Open), num(c.High), num(c.Low), num(c.Close),
			num(c.Volume), nullNum(c.QuoteVolume), trades, c.Closed, c.Received)
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
ON CONFLICT (exchange, symbol, ts, sequence) DO NOTHING`,
	values: func(b *market.BookSnapshot, _ int, v []any) []any {
		var checksum any
		if b.Checksum != 0 {
			checksum = b.Checksum
		}
		return append(v[:0], string(b.Exchange), string(b.Symbol), b.Time, b.Sequence,
			checksum, int32(max(len(b.Bids), len(b.Asks))), levels(b.Bids), levels(b.Asks), b.Received)
	},
	received: func(b *market.BookSnapshot) time.Time { return b.Received },
	refusal:  func(b *market.BookSnapshot) market.Reject { return refusalOf(b) },
}

// levels renders book levels as a two-dimensional numeric array of
// [price, size] pairs.
func levels(ls []market.Level) pgtype.Array[numeric] {
	if len(ls) == 0 {
		// Non-nil dimensions: pgx encodes nil ones as NULL.
		return pgtype.Array[numeric]{Elements: []numeric{}, Dims: []pgtype.ArrayDimension{}, Valid: true}
	}
	el := make([]numeric, 0, 2*len(ls))
	for _, l := range ls {
		el = append(el, num(l.Price), num(l.Size))
	}
	return pgtype.Array[numeric]{
		Elements: el,
		Dims:     []pgtype.ArrayDimension{{Length: int32(len(ls)), LowerBound: 1}, {Length: 2, LowerBound: 1}},
		Valid:    true,
	}
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
	values: func(b *market.Balance, _ int, v []any) []any {
		return append(v[:0], string(b.Exchange), b.Account, string(b.Symbol), b.Time,
			num(b.Free), num(b.Locked), b.Received)
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
	values: func(r rejectRow, _ int, v []any) []any {
		return append(v[:0], r.ts, r.exchange, r.symbol, r.dataType, r.reason, r.field, r.detail,
			r.sqlstate, r.raw, r.rawBytes)
	},
	received: func(r rejectRow) time.Time { return r.ts },
}

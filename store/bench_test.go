package store

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"marketetl/market"
)

const benchBatch = 100_000

// benchTrades returns a generator of trades whose ids start with prefix.
func benchTrades(prefix string) func(i, j int) *market.Trade {
	return func(i, j int) *market.Trade {
		t := trade(j, "64123.45", "0.00123")
		t.TradeID = fmt.Sprintf("%s%d-%d", prefix, i, j)
		return t
	}
}

func benchCandle(i, j int) *market.Candle {
	c := candle(i*benchBatch+j, "15.25", true, 1)
	c.QuoteVolume = nullDec("45.75")
	c.Trades = 17
	return c
}

// BenchmarkCopyBatch measures one flush of a 100,000-row batch of new rows
// and reports rows per second: trades copied straight into the table
// (direct), through the staging table and merge (merge, the path of a
// batch holding duplicates), split between two COPY writers (writers=2),
// and candles both ways.
func BenchmarkCopyBatch(b *testing.B) {
	_, pool := migratedDB(b)
	b.Run("trades/direct", func(b *testing.B) {
		w := benchWriter(b, pool, 1)
		benchLane(b, w.trades, benchTrades("d"), func(rows []*market.Trade) (int, error) {
			ins, _, err := w.trades.attempt(b.Context(), rows, &w.trades.encs[0])
			return ins, err
		})
	})
	b.Run("trades/merge", func(b *testing.B) {
		w := benchWriter(b, pool, 1)
		benchLane(b, w.trades, benchTrades("m"), func(rows []*market.Trade) (int, error) {
			w.trades.mergeNext.Store(1)
			ins, _, err := w.trades.attempt(b.Context(), rows, &w.trades.encs[0])
			return ins, err
		})
	})
	b.Run("trades/writers=2", func(b *testing.B) {
		w := benchWriter(b, pool, 2)
		benchLane(b, w.trades, benchTrades("p"), func(rows []*market.Trade) (int, error) {
			var res FlushResult
			err := w.trades.store(b.Context(), rows, &res)
			return res.Inserted, err
		})
	})
	b.Run("candles/direct", func(b *testing.B) {
		w := benchWriter(b, pool, 1)
		benchLane(b, w.candles, benchCandle, func(rows []*market.Candle) (int, error) {
			ins, _, err := w.candles.attempt(b.Context(), rows, &w.candles.encs[0])
			return ins, err
		})
	})
	b.Run("candles/merge", func(b *testing.B) {
		w := benchWriter(b, pool, 1)
		benchLane(b, w.candles, benchCandle, func(rows []*market.Candle) (int, error) {
			w.candles.mergeNext.Store(1)
			ins, _, err := w.candles.attempt(b.Context(), rows, &w.candles.encs[0])
			return ins, err
		})
	})
}

// benchWriter returns a Writer with the given number of COPY writers, its
// tables emptied so that every case starts from the same index size.
func benchWriter(b *testing.B, pool *pgxpool.Pool, writers int) *Writer {
	if _, err := pool.Exec(b.Context(), `TRUNCATE trades, candles`); err != nil {
		b.Fatal(err)
	}
	w, err := New(Config{BatchSize: benchBatch, CopyWriters: writers}, pool, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func benchLane[T any](b *testing.B, _ *lane[T], row func(iteration, j int) T, store func([]T) (int, error)) {
	b.ReportAllocs()
	rows := make([]T, benchBatch)
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := range rows {
			rows[j] = row(i, j)
		}
		b.StartTimer()
		start := time.Now()
		ins, err := store(rows)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if ins != benchBatch {
			b.Fatalf("inserted %d of %d", ins, benchBatch)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/elapsed.Seconds(), "rows/s")
}

// BenchmarkDatabaseCopy measures the database's own COPY rate into the
// trades table, the bound for BenchmarkCopyBatch: pgx's CopyFrom of the
// same rows (pgx encodes them, numeric through math/big), and the binary
// stream of the writer's encoder, encoded before the clock starts (so only
// the transfer and the database's work are timed).
func BenchmarkDatabaseCopy(b *testing.B) {
	_, pool := migratedDB(b)
	columns := make([]string, len(tradesTable.columns))
	for i, c := range tradesTable.columns {
		columns[i] = c.name
	}
	b.Run("pgx_CopyFrom", func(b *testing.B) {
		benchWriter(b, pool, 1)
		b.ReportAllocs()
		gen := benchTrades("x")
		rows := make([][]any, benchBatch)
		var elapsed time.Duration
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			for j := range rows {
				t := gen(i, j)
				rows[j] = []any{string(t.Exchange), string(t.Symbol), t.TradeID, t.Time,
					pgtype.Numeric{Int: t.Price.Coefficient(), Exp: t.Price.Exponent(), Valid: true},
					pgtype.Numeric{Int: t.Size.Coefficient(), Exp: t.Size.Exponent(), Valid: true},
					string(t.Side), t.Received}
			}
			b.StartTimer()
			start := time.Now()
			n, err := pool.CopyFrom(b.Context(), pgx.Identifier{TableTrades}, columns, pgx.CopyFromRows(rows))
			elapsed += time.Since(start)
			if err != nil || n != benchBatch {
				b.Fatalf("copied %d rows: %v", n, err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/elapsed.Seconds(), "rows/s")
	})
	b.Run("binary_stream", func(b *testing.B) {
		b.ReportAllocs()
		w := benchWriter(b, pool, 1)
		gen := benchTrades("b")
		rows := make([]*market.Trade, benchBatch)
		var enc copyEncoder
		var elapsed time.Duration
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			for j := range rows {
				rows[j] = gen(i, j)
			}
			data := w.trades.encode(rows, &enc, false)
			b.StartTimer()
			start := time.Now()
			conn, err := pool.Acquire(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			tag, err := conn.Conn().PgConn().CopyFrom(b.Context(), bytes.NewReader(data), tradesTable.copyTarget())
			conn.Release()
			elapsed += time.Since(start)
			if err != nil || tag.RowsAffected() != benchBatch {
				b.Fatalf("copied %d rows: %v", tag.RowsAffected(), err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/elapsed.Seconds(), "rows/s")
	})
}

// BenchmarkEncodeRow measures the COPY row encoding of one record.
func BenchmarkEncodeRow(b *testing.B) {
	tk := &market.Ticker{Meta: meta("BTC-USDT", t0), Last: nullDec("64123.45"), Bid: nullDec("64123.44"),
		Ask: nullDec("64123.46"), BidSize: nullDec("0.5"), AskSize: nullDec("1.25"), Open24h: nullDec("63000.1"),
		High24h: nullDec("65000"), Low24h: nullDec("62000.5"), Volume24h: nullDec("12345.678"),
		QuoteVolume24h: nullDec("791234567.12")}
	bench := func(name string, encode func(e *copyEncoder)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var e copyEncoder
			e.reset()
			for b.Loop() {
				if len(e.buf) > 1<<20 {
					e.reset()
				}
				encode(&e)
			}
		})
	}
	tr, c := benchTrades("")(1, 1), benchCandle(1, 1)
	bench("trade", func(e *copyEncoder) { e.row(8); tradesTable.encode(tr, e) })
	bench("ticker", func(e *copyEncoder) { e.row(14); tickersTable.encode(tk, e) })
	bench("candle", func(e *copyEncoder) { e.row(14); e.int32(1); candlesTable.encode(c, e) })
}

// BenchmarkNumeric compares the binary numeric encoding with pgx's (through
// math/big) for a typical price.
func BenchmarkNumeric(b *testing.B) {
	d := dec("64123.45")
	b.Run("appendNumeric", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			buf = appendNumeric(buf[:0], d)
		}
	})
	b.Run("pgx", func(b *testing.B) {
		b.ReportAllocs()
		m := pgtype.NewMap()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			var err error
			n := pgtype.Numeric{Int: d.Coefficient(), Exp: d.Exponent(), Valid: true}
			if buf, err = m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, n, buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWriter measures the whole path with the default configuration:
// Write from one producer, batching, flushing, and the final drain.
func BenchmarkWriter(b *testing.B) {
	_, pool := migratedDB(b)
	b.ReportAllocs()
	rows := 0
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		r := startWriter(b, Config{}, pool)
		for j := range benchBatch {
			t := trade(j, "64123.45", "0.00123")
			t.TradeID = fmt.Sprintf("w%d-%d", i, j)
			if err := r.Write(b.Context(), t); err != nil {
				b.Fatal(err)
			}
		}
		if err := r.stop(); err != nil {
			b.Fatal(err)
		}
		rows += benchBatch
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkWriterLatency writes trades at 20,000 rows per second (20 every
// millisecond, stamped as received when written) through a Writer with the
// default configuration and reports the receipt-to-commit latency of the
// rows: p50 and p99 over the run, in milliseconds.
func BenchmarkWriterLatency(b *testing.B) {
	_, pool := migratedDB(b)
	const perTick, ticks = 20, 2000 // two seconds at 20,000 rows/s
	var lat []time.Duration
	var mu sync.Mutex
	onFlush := func(res FlushResult) {
		now := time.Now()
		mu.Lock()
		for _, t := range res.Received {
			lat = append(lat, now.Sub(t))
		}
		mu.Unlock()
	}
	for i := 0; b.Loop(); i++ {
		r := startWriter(b, Config{OnFlush: onFlush}, pool)
		tick := time.NewTicker(time.Millisecond)
		for k := range ticks {
			<-tick.C
			for j := range perTick {
				t := trade(k*perTick+j, "64123.45", "0.00123")
				t.TradeID = fmt.Sprintf("l%d-%d-%d", i, k, j)
				t.Received = time.Now()
				if err := r.Write(b.Context(), t); err != nil {
					b.Fatal(err)
				}
			}
		}
		tick.Stop()
		if err := r.stop(); err != nil {
			b.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no flushes observed")
	}
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
}

// BenchmarkNumericWide encodes an 18-decimal size of 19 significant digits
// (as ETH-USDT sizes are sent), which still fits int64.
func BenchmarkNumericWide(b *testing.B) {
	d := dec("1.234567890123456789")
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = appendNumeric(buf[:0], d)
	}
}

// BenchmarkAdmit measures the storability checks of one record, which the
// pipeline runs before publishing and Write runs again before queueing.
func BenchmarkAdmit(b *testing.B) {
	w := &Writer{}
	tk := &market.Ticker{Meta: meta("BTC-USDT", t0), Last: nullDec("64123.45"), Bid: nullDec("64123.44"),
		Ask: nullDec("64123.46"), BidSize: nullDec("0.5"), AskSize: nullDec("1.25")}
	for _, rec := range []market.Record{benchTrades("")(1, 1), tk, benchCandle(1, 1)} {
		b.Run(string(rec.DataType()), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Admit(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

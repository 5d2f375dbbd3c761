-- marketetl schema 5: candle roll-ups for dashboards and analysis.
--
-- candles_1h and candles_1d aggregate the closed 1-minute candles of the
-- candles table into hourly and daily bars (UTC), for every exchange and
-- symbol that has 1m candles, whatever timeframes the exchanges send. Query
-- them for charts over long ranges; query candles itself for the
-- timeframes the collectors subscribe to (the exchange's own bars).
--
-- On TimescaleDB they are continuous aggregates refreshed by policies, with
-- real-time aggregation (materialized_only = false), so the newest bucket is
-- computed from the raw candles until it is materialized. On plain
-- PostgreSQL they are views with the same names and columns, computed at
-- query time (the candles primary key serves the range scans).
--
-- Columns: exchange, symbol, ts (bucket start, UTC), open (open of the first
-- 1m candle), high, low, close (close of the last 1m candle), volume,
-- quote_volume (NULL when no 1m candle had one), trades (NULL likewise) and
-- candles (how many 1m candles the bucket holds: 60 or 1440 when complete).
--
-- Retention of market data (trades, tickers, books, rejects, filled gaps) is
-- applied at run time by the service (RETENTION_* variables): on
-- TimescaleDB as retention policies, otherwise by a bounded DELETE job.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        EXECUTE $v$
            CREATE MATERIALIZED VIEW IF NOT EXISTS candles_1h
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT exchange, symbol, time_bucket(INTERVAL '1 hour', ts) AS ts,
                   first(open, ts) AS open, max(high) AS high, min(low) AS low, last(close, ts) AS close,
                   sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trades) AS trades,
                   count(*) AS candles
            FROM candles
            WHERE timeframe = '1m' AND closed
            GROUP BY exchange, symbol, time_bucket(INTERVAL '1 hour', ts)
            WITH NO DATA
        $v$;
        EXECUTE $v$
            CREATE MATERIALIZED VIEW IF NOT EXISTS candles_1d
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT exchange, symbol, time_bucket(INTERVAL '1 day', ts) AS ts,
                   first(open, ts) AS open, max(high) AS high, min(low) AS low, last(close, ts) AS close,
                   sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trades) AS trades,
                   count(*) AS candles
            FROM candles
            WHERE timeframe = '1m' AND closed
            GROUP BY exchange, symbol, time_bucket(INTERVAL '1 day', ts)
            WITH NO DATA
        $v$;
        -- Reconciliation may still correct a closed candle a few hours
        -- after the fact; the refresh windows reach back further than that.
        PERFORM add_continuous_aggregate_policy('candles_1h',
            start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
            schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE);
        PERFORM add_continuous_aggregate_policy('candles_1d',
            start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 day',
            schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
        RETURN;
    END IF;

    -- Plain PostgreSQL: the same names and columns as views. date_bin with
    -- an origin at midnight UTC buckets like time_bucket does.
    CREATE OR REPLACE VIEW candles_1h AS
    SELECT exchange, symbol, date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS ts,
           (array_agg(open ORDER BY ts))[1] AS open, max(high) AS high, min(low) AS low,
           (array_agg(close ORDER BY ts DESC))[1] AS close,
           sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trades) AS trades,
           count(*) AS candles
    FROM candles
    WHERE timeframe = '1m' AND closed
    GROUP BY exchange, symbol, date_bin(INTERVAL '1 hour', ts, TIMESTAMPTZ '2000-01-03 00:00:00+00');

    CREATE OR REPLACE VIEW candles_1d AS
    SELECT exchange, symbol, date_bin(INTERVAL '1 day', ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS ts,
           (array_agg(open ORDER BY ts))[1] AS open, max(high) AS high, min(low) AS low,
           (array_agg(close ORDER BY ts DESC))[1] AS close,
           sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trades) AS trades,
           count(*) AS candles
    FROM candles
    WHERE timeframe = '1m' AND closed
    GROUP BY exchange, symbol, date_bin(INTERVAL '1 day', ts, TIMESTAMPTZ '2000-01-03 00:00:00+00');
END
$$;

COMMENT ON VIEW candles_1h IS 'Hourly bars (UTC) rolled up from closed 1m candles; candles counts the 1m candles in the bucket (60 when complete).';
COMMENT ON VIEW candles_1d IS 'Daily bars (UTC) rolled up from closed 1m candles; candles counts the 1m candles in the bucket (1440 when complete).';

-- Filled gaps are deleted by retention after RETENTION_FILLED_GAPS; this
-- index finds them without scanning open ones.
CREATE INDEX IF NOT EXISTS gaps_filled_updated ON gaps (updated_at) WHERE status = 'filled';

-- Undo 000005. With TimescaleDB, the continuous aggregates' refresh
-- policies go first (see 000002's down migration), then the aggregates.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM remove_continuous_aggregate_policy(v, if_exists => TRUE)
        FROM unnest(ARRAY['candles_1h', 'candles_1d']) AS v
        WHERE to_regclass(v) IS NOT NULL;
        DROP MATERIALIZED VIEW IF EXISTS candles_1d;
        DROP MATERIALIZED VIEW IF EXISTS candles_1h;
    ELSE
        DROP VIEW IF EXISTS candles_1d;
        DROP VIEW IF EXISTS candles_1h;
    END IF;
END
$$;

DROP INDEX IF EXISTS gaps_filled_updated;

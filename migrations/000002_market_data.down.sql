-- Undo 000002. With TimescaleDB, the compression policies go first: a policy
-- job running at the moment of DROP TABLE would deadlock with it, while
-- removing the policy simply waits for the job to finish. Dropping a
-- hypertable drops its chunks.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM remove_compression_policy(h, if_exists => TRUE)
        FROM unnest(ARRAY['candles', 'trades', 'tickers', 'book_snapshots']) AS h
        WHERE to_regclass(h) IS NOT NULL;
    END IF;
END
$$;

DROP TABLE IF EXISTS balances;
DROP TABLE IF EXISTS book_snapshots;
DROP TABLE IF EXISTS tickers;
DROP TABLE IF EXISTS trades;
DROP TABLE IF EXISTS candles;

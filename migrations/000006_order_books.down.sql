-- Undo 000006. With TimescaleDB the compression policy goes first (see
-- 000002's down migration).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AND to_regclass('book_updates') IS NOT NULL THEN
        PERFORM remove_compression_policy('book_updates', if_exists => TRUE);
    END IF;
END
$$;

DROP TABLE IF EXISTS book_updates;

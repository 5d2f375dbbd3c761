-- Undo 000003. With TimescaleDB, the compression policy goes first (see
-- 000002's down migration).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
       AND to_regclass('rejects') IS NOT NULL THEN
        PERFORM remove_compression_policy('rejects', if_exists => TRUE);
    END IF;
END
$$;

DROP TABLE IF EXISTS gaps;
DROP TABLE IF EXISTS collectors;
DROP TABLE IF EXISTS rejects;
DROP TABLE IF EXISTS collector_status;

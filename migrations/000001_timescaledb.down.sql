-- Undo 000001: drop TimescaleDB only if migration 1 created it (an extension
-- that was there before belongs to someone else), then the bookkeeping table.

DO $$
BEGIN
    IF to_regclass('schema_extensions') IS NOT NULL
       AND EXISTS (SELECT 1 FROM schema_extensions WHERE name = 'timescaledb') THEN
        DROP EXTENSION IF EXISTS timescaledb;
    END IF;
END
$$;

DROP TABLE IF EXISTS schema_extensions;

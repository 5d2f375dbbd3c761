-- marketetl schema 1/3: TimescaleDB, when the server can provide it.
--
-- TimescaleDB is optional. When its library is loaded into this server
-- (shared_preload_libraries), the extension is created here and migrations 2
-- and 3 turn the time-series tables into hypertables. Otherwise the schema is
-- plain PostgreSQL with the same tables, columns and indexes.
--
-- The check for the loaded library comes first because CREATE EXTENSION
-- timescaledb without it does not raise a catchable error: the server ends
-- the session. The library's loader defines the setting
-- timescaledb.disable_load, so its presence (and the value off) means the
-- library is loaded. Any other failure (for example a missing privilege) is
-- caught and reported as a NOTICE, and the schema stays plain.

CREATE TABLE IF NOT EXISTS schema_extensions (
    name       text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE schema_extensions IS
    'Extensions that marketetl''s migrations created, so that migrating down drops those and no others.';
COMMENT ON COLUMN schema_extensions.name IS 'Extension name (timescaledb).';
COMMENT ON COLUMN schema_extensions.created_at IS 'When the migration created it.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RAISE NOTICE 'marketetl: timescaledb is installed; time-series tables become hypertables';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        RAISE NOTICE 'marketetl: timescaledb is not available; using plain PostgreSQL tables';
        RETURN;
    END IF;
    IF current_setting('timescaledb.disable_load', true) IS DISTINCT FROM 'off' THEN
        RAISE NOTICE 'marketetl: timescaledb is available but not in shared_preload_libraries; using plain PostgreSQL tables';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        INSERT INTO schema_extensions (name) VALUES ('timescaledb') ON CONFLICT (name) DO NOTHING;
        RAISE NOTICE 'marketetl: created extension timescaledb; time-series tables become hypertables';
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'marketetl: cannot create extension timescaledb (%: %); using plain PostgreSQL tables',
            SQLSTATE, SQLERRM;
    END;
END
$$;

-- Back to one book_snapshots row per (exchange, symbol, ts, sequence) and
-- one book_updates row per (exchange, symbol, ts, sequence, side, price):
-- the earliest received is kept. On a hypertable, as in the up migration,
-- compression is disabled around the change.

DO $$
DECLARE
    t record;
    hyper boolean;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('book_snapshots', 'exchange, symbol, ts, sequence', 'ts DESC, sequence DESC'),
        ('book_updates', 'exchange, symbol, ts, sequence, side, price', 'ts DESC, sequence DESC, side, price')
    ) AS v(name, pkey, orderby) LOOP
        hyper := false;
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
            SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = t.name) INTO hyper;
        END IF;
        IF hyper THEN
            PERFORM remove_compression_policy(t.name::regclass, if_exists => TRUE);
            PERFORM decompress_chunk(c, if_compressed => TRUE) FROM show_chunks(t.name::regclass) c;
            EXECUTE format('ALTER TABLE %I SET (timescaledb.compress = false)', t.name);
        END IF;
        -- Keep the earliest received of the rows the old key cannot tell apart.
        EXECUTE format('DELETE FROM %1$I b USING %1$I e WHERE (%2$s) = (%3$s) AND b.received_at > e.received_at',
                       t.name,
                       (SELECT string_agg('b.' || trim(c), ', ') FROM unnest(string_to_array(t.pkey, ',')) c),
                       (SELECT string_agg('e.' || trim(c), ', ') FROM unnest(string_to_array(t.pkey, ',')) c));
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT IF EXISTS %I', t.name, t.name || '_pkey');
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (%s)', t.name, t.name || '_pkey', t.pkey);
        IF hyper THEN
            EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
                           t.name, 'exchange, symbol', t.orderby);
            PERFORM add_compression_policy(t.name::regclass, INTERVAL '3 days', if_not_exists => TRUE);
        END IF;
    END LOOP;
END
$$;

COMMENT ON COLUMN book_snapshots.received_at IS 'When the frame carrying the book was read (UTC).';

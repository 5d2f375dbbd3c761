-- marketetl schema 10: received_at joins the keys of the order book tables.
--
-- book_snapshots: a row per book_interval even when the book did not
-- change. Such a row repeats the ts and sequence of the last update applied
-- (the book's time), so the primary key also holds received_at, when the
-- row was taken: the rows of one unchanged book then differ by it.
--
-- book_updates: Coinbase numbers nothing (sequence 0), so two of its
-- messages with the same time that change the same level had the same key
-- and the second change was lost; they differ by when they were read.
--
-- A replay of the same rows (same received_at) still stores nothing new.
--
-- TimescaleDB refuses to change a constraint of a hypertable while
-- compression is enabled, and a compressed hypertable's constraints may
-- only hold its segment-by and order-by columns: on a hypertable the
-- chunks are decompressed, compression is disabled, the key changed, and
-- compression enabled again with received_at in its order, under the same
-- policy, which compresses the chunks again.

DO $$
DECLARE
    t record;
    hyper boolean;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('book_snapshots', 'exchange, symbol, ts, sequence, received_at', 'ts DESC, sequence DESC, received_at DESC'),
        ('book_updates', 'exchange, symbol, ts, sequence, side, price, received_at', 'ts DESC, sequence DESC, side, price, received_at DESC')
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

COMMENT ON COLUMN book_snapshots.received_at IS
    'When the snapshot was taken (UTC): when the frame whose update it follows was read, or, for a book that got no message for book_interval, when the interval''s timer took it (ts and sequence then stay those of the last update).';

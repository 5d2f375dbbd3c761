-- marketetl schema 6: order books. book_snapshots (schema 2) keeps the top
-- of each book at intervals; book_updates keeps every level change, so the
-- exact book at any moment can be rebuilt from the last snapshot before it
-- (README, "Order books in SQL").

CREATE TABLE IF NOT EXISTS book_updates (
    exchange    text COLLATE "C" NOT NULL,
    symbol      text COLLATE "C" NOT NULL,
    ts          timestamptz      NOT NULL,
    sequence    bigint           NOT NULL DEFAULT 0,
    side        text COLLATE "C" NOT NULL CHECK (side IN ('bid', 'ask')),
    price       numeric          NOT NULL CHECK (price > 0),
    size        numeric          NOT NULL CHECK (size >= 0),
    received_at timestamptz      NOT NULL,
    CONSTRAINT book_updates_pkey PRIMARY KEY (exchange, symbol, ts, sequence, side, price)
);
CREATE INDEX IF NOT EXISTS book_updates_ts_brin ON book_updates USING brin (ts);

COMMENT ON TABLE book_updates IS
    'Every change of an order book level, as the exchange sent it: the level''s new total size, 0 when it was removed. With the last book_snapshots row before a moment, rebuilds the book at that moment.';
COMMENT ON COLUMN book_updates.exchange IS 'Exchange: okx, binance or coinbase.';
COMMENT ON COLUMN book_updates.symbol IS 'Instrument, BASE-QUOTE in upper case.';
COMMENT ON COLUMN book_updates.ts IS 'The exchange''s time of the update that carried the change (UTC).';
COMMENT ON COLUMN book_updates.sequence IS 'The exchange''s update id of the update that carried the change (OKX seqId, Binance u); 0 when it sends none (Coinbase).';
COMMENT ON COLUMN book_updates.side IS 'bid or ask.';
COMMENT ON COLUMN book_updates.price IS 'The level''s price, with the exchange''s decimals.';
COMMENT ON COLUMN book_updates.size IS 'The level''s new total size; 0 means the level was removed.';
COMMENT ON COLUMN book_updates.received_at IS 'When the frame carrying the change was read (UTC).';

-- With TimescaleDB: a hypertable on ts with daily chunks, compressed (by
-- stream) once a chunk has been quiet for three days, as book_snapshots.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;

    PERFORM create_hypertable('book_updates', 'ts', chunk_time_interval => INTERVAL '1 day',
                              if_not_exists => TRUE, create_default_indexes => FALSE);
    ALTER TABLE book_updates SET (timescaledb.compress,
                                  timescaledb.compress_segmentby = 'exchange, symbol',
                                  timescaledb.compress_orderby = 'ts DESC, sequence DESC, side, price');
    PERFORM add_compression_policy('book_updates', INTERVAL '3 days', if_not_exists => TRUE);
END
$$;

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

ALTER TABLE book_snapshots DROP CONSTRAINT IF EXISTS book_snapshots_pkey;
ALTER TABLE book_snapshots ADD CONSTRAINT book_snapshots_pkey PRIMARY KEY (exchange, symbol, ts, sequence, received_at);

COMMENT ON COLUMN book_snapshots.received_at IS
    'When the snapshot was taken (UTC): when the frame whose update it follows was read, or, for a book that got no message for book_interval, when the interval''s timer took it (ts and sequence then stay those of the last update).';

ALTER TABLE book_updates DROP CONSTRAINT IF EXISTS book_updates_pkey;
ALTER TABLE book_updates ADD CONSTRAINT book_updates_pkey PRIMARY KEY (exchange, symbol, ts, sequence, side, price, received_at);

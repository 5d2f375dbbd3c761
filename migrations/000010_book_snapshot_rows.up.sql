-- marketetl schema 10: a book_snapshots row per book_interval even when the
-- book did not change. Such a row repeats the ts and sequence of the last
-- update applied (the book's time), so the primary key also holds
-- received_at, when the row was taken: the rows of one unchanged book then
-- differ by it, and a replay of the same row (same received_at) still
-- stores nothing new.

ALTER TABLE book_snapshots DROP CONSTRAINT IF EXISTS book_snapshots_pkey;
ALTER TABLE book_snapshots ADD CONSTRAINT book_snapshots_pkey PRIMARY KEY (exchange, symbol, ts, sequence, received_at);

COMMENT ON COLUMN book_snapshots.received_at IS
    'When the snapshot was taken (UTC): when the frame whose update it follows was read, or, for a book that got no message for book_interval, when the interval''s timer took it (ts and sequence then stay those of the last update).';

-- Back to one book_snapshots row per (exchange, symbol, ts, sequence) and
-- one book_updates row per (exchange, symbol, ts, sequence, side, price):
-- the earliest received is kept.

DELETE FROM book_snapshots b
USING book_snapshots e
WHERE b.exchange = e.exchange AND b.symbol = e.symbol AND b.ts = e.ts AND b.sequence = e.sequence
  AND b.received_at > e.received_at;

ALTER TABLE book_snapshots DROP CONSTRAINT IF EXISTS book_snapshots_pkey;
ALTER TABLE book_snapshots ADD CONSTRAINT book_snapshots_pkey PRIMARY KEY (exchange, symbol, ts, sequence);

COMMENT ON COLUMN book_snapshots.received_at IS 'When the frame carrying the book was read (UTC).';

DELETE FROM book_updates b
USING book_updates e
WHERE b.exchange = e.exchange AND b.symbol = e.symbol AND b.ts = e.ts AND b.sequence = e.sequence
  AND b.side = e.side AND b.price = e.price AND b.received_at > e.received_at;

ALTER TABLE book_updates DROP CONSTRAINT IF EXISTS book_updates_pkey;
ALTER TABLE book_updates ADD CONSTRAINT book_updates_pkey PRIMARY KEY (exchange, symbol, ts, sequence, side, price);

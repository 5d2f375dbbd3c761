-- Undo 000002. Dropping a hypertable also drops its chunks and its
-- compression policy.
DROP TABLE IF EXISTS balances;
DROP TABLE IF EXISTS book_snapshots;
DROP TABLE IF EXISTS tickers;
DROP TABLE IF EXISTS trades;
DROP TABLE IF EXISTS candles;

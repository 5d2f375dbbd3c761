-- marketetl schema 2/3: market data.
--
-- Every table has exchange (okx, binance, coinbase), symbol (BASE-QUOTE in
-- upper case) and ts, the exchange's time of the event in UTC. Prices and
-- sizes are numeric, stored exactly as the exchange sent them. received_at is
-- the local time at which the frame carrying the record was read.
--
-- The natural keys include ts, as TimescaleDB hypertables require. The CHECK
-- constraints repeat the most basic validation rules as a last line of
-- defence: the writer stores a row that breaks one in rejects with its
-- SQLSTATE and stores the rest of its batch.
--
-- Indexes fit time-range queries on both plain PostgreSQL and TimescaleDB:
-- each primary key leads with (exchange, symbol, ...) and then ts (a unique
-- key is the same set of columns in any order, so trades' key, unique on
-- (exchange, symbol, trade_id, ts), is ordered (exchange, symbol, ts,
-- trade_id) and serves time ranges too), and a BRIN index on ts serves scans
-- across symbols. Each table has just these two indexes: every index costs
-- ingest throughput.
--
-- Identifier columns (exchange, symbol, timeframe, trade_id, account,
-- asset) use the "C" collation: they are ASCII codes, and byte-wise
-- comparison makes the key indexes much cheaper to maintain than a
-- linguistic collation would.

CREATE TABLE IF NOT EXISTS candles (
    exchange     text COLLATE "C" NOT NULL,
    symbol       text COLLATE "C" NOT NULL,
    timeframe    text COLLATE "C" NOT NULL,
    ts           timestamptz      NOT NULL,
    open         numeric          NOT NULL CHECK (open > 0),
    high         numeric          NOT NULL CHECK (high > 0),
    low          numeric          NOT NULL CHECK (low > 0),
    close        numeric          NOT NULL CHECK (close > 0),
    volume       numeric          NOT NULL CHECK (volume >= 0),
    quote_volume numeric          NULL     CHECK (quote_volume >= 0),
    trades       bigint           NULL     CHECK (trades >= 0),
    closed       boolean          NOT NULL,
    received_at  timestamptz      NOT NULL,
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT candles_pkey PRIMARY KEY (exchange, symbol, timeframe, ts),
    CONSTRAINT candles_high_low CHECK (high >= low AND high >= open AND high >= close
                                       AND low <= open AND low <= close)
);
CREATE INDEX IF NOT EXISTS candles_ts_brin ON candles USING brin (ts);

COMMENT ON TABLE candles IS
    'OHLCV candles. A forming candle (closed false) is replaced by later updates and by its closed version; a closed candle is never replaced by a forming one, but may be by another closed one (REST reconciliation).';
COMMENT ON COLUMN candles.exchange IS 'Exchange: okx, binance or coinbase.';
COMMENT ON COLUMN candles.symbol IS 'Instrument, BASE-QUOTE in upper case (BTC-USDT).';
COMMENT ON COLUMN candles.timeframe IS 'Candle interval: 1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w.';
COMMENT ON COLUMN candles.ts IS 'Open time of the candle (UTC).';
COMMENT ON COLUMN candles.open IS 'First trade price of the interval.';
COMMENT ON COLUMN candles.high IS 'Highest trade price of the interval.';
COMMENT ON COLUMN candles.low IS 'Lowest trade price of the interval.';
COMMENT ON COLUMN candles.close IS 'Last trade price of the interval (so far, while forming).';
COMMENT ON COLUMN candles.volume IS 'Traded volume in the base asset.';
COMMENT ON COLUMN candles.quote_volume IS 'Traded volume in the quote asset; NULL when the exchange does not send it.';
COMMENT ON COLUMN candles.trades IS 'Number of trades; NULL when the exchange does not say.';
COMMENT ON COLUMN candles.closed IS 'True for a final candle, false while it is still forming.';
COMMENT ON COLUMN candles.received_at IS 'When the frame carrying the stored version was read (UTC).';
COMMENT ON COLUMN candles.updated_at IS 'When the row was last inserted or replaced (database time).';

CREATE TABLE IF NOT EXISTS trades (
    exchange    text COLLATE "C" NOT NULL,
    symbol      text COLLATE "C" NOT NULL,
    trade_id    text COLLATE "C" NOT NULL CHECK (trade_id <> ''),
    ts          timestamptz      NOT NULL,
    price       numeric          NOT NULL CHECK (price > 0),
    size        numeric          NOT NULL CHECK (size > 0),
    side        text             NOT NULL CHECK (side IN ('buy', 'sell')),
    received_at timestamptz      NOT NULL,
    CONSTRAINT trades_pkey PRIMARY KEY (exchange, symbol, ts, trade_id)
);
CREATE INDEX IF NOT EXISTS trades_ts_brin ON trades USING brin (ts);

COMMENT ON TABLE trades IS 'Executions, one row per trade; a replayed trade is not stored twice.';
COMMENT ON COLUMN trades.exchange IS 'Exchange: okx, binance or coinbase.';
COMMENT ON COLUMN trades.symbol IS 'Instrument, BASE-QUOTE in upper case.';
COMMENT ON COLUMN trades.trade_id IS 'The exchange''s trade id, as text.';
COMMENT ON COLUMN trades.ts IS 'Execution time (UTC).';
COMMENT ON COLUMN trades.price IS 'Execution price in the quote asset.';
COMMENT ON COLUMN trades.size IS 'Executed quantity in the base asset.';
COMMENT ON COLUMN trades.side IS 'Taker''s (aggressor''s) side: buy or sell.';
COMMENT ON COLUMN trades.received_at IS 'When the frame carrying the trade was read (UTC).';

CREATE TABLE IF NOT EXISTS tickers (
    exchange         text COLLATE "C" NOT NULL,
    symbol           text COLLATE "C" NOT NULL,
    ts               timestamptz      NOT NULL,
    last             numeric          NULL CHECK (last > 0),
    bid              numeric          NULL CHECK (bid > 0),
    ask              numeric          NULL CHECK (ask > 0),
    bid_size         numeric          NULL CHECK (bid_size >= 0),
    ask_size         numeric          NULL CHECK (ask_size >= 0),
    open_24h         numeric          NULL CHECK (open_24h > 0),
    high_24h         numeric          NULL CHECK (high_24h > 0),
    low_24h          numeric          NULL CHECK (low_24h > 0),
    volume_24h       numeric          NULL CHECK (volume_24h >= 0),
    quote_volume_24h numeric          NULL CHECK (quote_volume_24h >= 0),
    received_at      timestamptz      NOT NULL,
    CONSTRAINT tickers_pkey PRIMARY KEY (exchange, symbol, ts)
);
CREATE INDEX IF NOT EXISTS tickers_ts_brin ON tickers USING brin (ts);

COMMENT ON TABLE tickers IS
    'Top of book and 24-hour summary. Columns an exchange does not send are NULL. The first ticker stored for a (exchange, symbol, ts) is kept.';
COMMENT ON COLUMN tickers.exchange IS 'Exchange: okx, binance or coinbase.';
COMMENT ON COLUMN tickers.symbol IS 'Instrument, BASE-QUOTE in upper case.';
COMMENT ON COLUMN tickers.ts IS 'The exchange''s time of the update (UTC).';
COMMENT ON COLUMN tickers.last IS 'Last trade price.';
COMMENT ON COLUMN tickers.bid IS 'Best bid price.';
COMMENT ON COLUMN tickers.ask IS 'Best ask price.';
COMMENT ON COLUMN tickers.bid_size IS 'Quantity at the best bid, in the base asset.';
COMMENT ON COLUMN tickers.ask_size IS 'Quantity at the best ask, in the base asset.';
COMMENT ON COLUMN tickers.open_24h IS 'Open price of the exchange''s rolling 24-hour window.';
COMMENT ON COLUMN tickers.high_24h IS 'Highest price of the rolling 24-hour window.';
COMMENT ON COLUMN tickers.low_24h IS 'Lowest price of the rolling 24-hour window.';
COMMENT ON COLUMN tickers.volume_24h IS '24-hour volume in the base asset.';
COMMENT ON COLUMN tickers.quote_volume_24h IS '24-hour volume in the quote asset.';
COMMENT ON COLUMN tickers.received_at IS 'When the frame carrying the ticker was read (UTC).';

CREATE TABLE IF NOT EXISTS book_snapshots (
    exchange    text COLLATE "C" NOT NULL,
    symbol      text COLLATE "C" NOT NULL,
    ts          timestamptz      NOT NULL,
    sequence    bigint           NOT NULL DEFAULT 0,
    checksum    bigint           NULL,
    depth       integer          NOT NULL CHECK (depth >= 0),
    bids        numeric[]        NOT NULL,
    asks        numeric[]        NOT NULL,
    received_at timestamptz      NOT NULL,
    CONSTRAINT book_snapshots_pkey PRIMARY KEY (exchange, symbol, ts, sequence)
);
CREATE INDEX IF NOT EXISTS book_snapshots_ts_brin ON book_snapshots USING brin (ts);

COMMENT ON TABLE book_snapshots IS
    'Top of an order book at one moment. bids and asks are two-dimensional arrays of [price, size] pairs, best first: bids[1][1] is the best bid price, bids[1][2] its size.';
COMMENT ON COLUMN book_snapshots.exchange IS 'Exchange: okx, binance or coinbase.';
COMMENT ON COLUMN book_snapshots.symbol IS 'Instrument, BASE-QUOTE in upper case.';
COMMENT ON COLUMN book_snapshots.ts IS 'The exchange''s time of the book (UTC).';
COMMENT ON COLUMN book_snapshots.sequence IS 'The exchange''s update id or sequence number; 0 when it sends none.';
COMMENT ON COLUMN book_snapshots.checksum IS 'The exchange''s checksum of the book; NULL when it sends none.';
COMMENT ON COLUMN book_snapshots.depth IS 'Levels per side: the larger of the numbers of bids and asks.';
COMMENT ON COLUMN book_snapshots.bids IS 'Bids, highest price first, as [[price, size], ...].';
COMMENT ON COLUMN book_snapshots.asks IS 'Asks, lowest price first, as [[price, size], ...].';
COMMENT ON COLUMN book_snapshots.received_at IS 'When the frame carrying the book was read (UTC).';

CREATE TABLE IF NOT EXISTS balances (
    exchange    text COLLATE "C" NOT NULL,
    account     text COLLATE "C" NOT NULL,
    asset       text COLLATE "C" NOT NULL,
    ts          timestamptz      NOT NULL,
    free        numeric          NOT NULL CHECK (free >= 0),
    locked      numeric          NOT NULL CHECK (locked >= 0),
    received_at timestamptz      NOT NULL,
    CONSTRAINT balances_pkey PRIMARY KEY (exchange, account, asset, ts)
);
CREATE INDEX IF NOT EXISTS balances_ts_brin ON balances USING brin (ts);

COMMENT ON TABLE balances IS 'One asset''s balance in one account at one moment (private balance streams).';
COMMENT ON COLUMN balances.exchange IS 'Exchange: okx, binance or coinbase.';
COMMENT ON COLUMN balances.account IS 'Account name (for example spot); never a secret.';
COMMENT ON COLUMN balances.asset IS 'Asset code (BTC).';
COMMENT ON COLUMN balances.ts IS 'The exchange''s time of the balance (UTC).';
COMMENT ON COLUMN balances.free IS 'Amount available.';
COMMENT ON COLUMN balances.locked IS 'Amount held (in open orders, for example).';
COMMENT ON COLUMN balances.received_at IS 'When the frame carrying the balance was read (UTC).';

-- With TimescaleDB: hypertables partitioned on ts. Chunk intervals aim at
-- chunks that fit in memory while being written: a day for the busy tables,
-- longer for the sparse ones. Compression (columnar, segmented by stream)
-- starts once a chunk has been quiet for a while; candles wait longest
-- because forming weekly candles and REST reconciliation still update them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;

    PERFORM create_hypertable('candles', 'ts', chunk_time_interval => INTERVAL '7 days',
                              if_not_exists => TRUE, create_default_indexes => FALSE);
    ALTER TABLE candles SET (timescaledb.compress,
                             timescaledb.compress_segmentby = 'exchange, symbol, timeframe',
                             timescaledb.compress_orderby = 'ts DESC');
    PERFORM add_compression_policy('candles', INTERVAL '30 days', if_not_exists => TRUE);

    PERFORM create_hypertable('trades', 'ts', chunk_time_interval => INTERVAL '1 day',
                              if_not_exists => TRUE, create_default_indexes => FALSE);
    ALTER TABLE trades SET (timescaledb.compress,
                            timescaledb.compress_segmentby = 'exchange, symbol',
                            timescaledb.compress_orderby = 'ts DESC, trade_id');
    PERFORM add_compression_policy('trades', INTERVAL '7 days', if_not_exists => TRUE);

    PERFORM create_hypertable('tickers', 'ts', chunk_time_interval => INTERVAL '1 day',
                              if_not_exists => TRUE, create_default_indexes => FALSE);
    ALTER TABLE tickers SET (timescaledb.compress,
                             timescaledb.compress_segmentby = 'exchange, symbol',
                             timescaledb.compress_orderby = 'ts DESC');
    PERFORM add_compression_policy('tickers', INTERVAL '7 days', if_not_exists => TRUE);

    PERFORM create_hypertable('book_snapshots', 'ts', chunk_time_interval => INTERVAL '1 day',
                              if_not_exists => TRUE, create_default_indexes => FALSE);
    ALTER TABLE book_snapshots SET (timescaledb.compress,
                                    timescaledb.compress_segmentby = 'exchange, symbol',
                                    timescaledb.compress_orderby = 'ts DESC, sequence DESC');
    PERFORM add_compression_policy('book_snapshots', INTERVAL '3 days', if_not_exists => TRUE);

    PERFORM create_hypertable('balances', 'ts', chunk_time_interval => INTERVAL '30 days',
                              if_not_exists => TRUE, create_default_indexes => FALSE);
END
$$;

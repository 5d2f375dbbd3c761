-- marketetl schema 8: reliability. Candles known to be incomplete are
-- stored as provisional, never as closed, and every candle waiting to be
-- compared with the exchange's own is kept in candle_checks, so that the
-- comparison survives restarts and is retried until it succeeds.

-- A candle built from part of its interval's trades (the collector joined
-- or rejoined the stream during the interval) is provisional: not closed,
-- and replaced by the exchange's candle once reconciliation fetches it.
-- The constant default keeps this a catalogue-only change on PostgreSQL 11+
-- (and on compressed TimescaleDB chunks).
ALTER TABLE candles ADD COLUMN IF NOT EXISTS provisional boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN candles.provisional IS 'True for a candle whose interval has ended but which was built from part of its trades (joined or rejoined mid-interval); never true together with closed. Replaced by the exchange''s closed candle once reconciled (see candle_checks).';
COMMENT ON COLUMN candles.closed IS 'True for a final candle; false while it is forming or provisional.';
COMMENT ON TABLE candles IS
    'OHLCV candles. A forming candle (closed false) is replaced by later updates, by a provisional version and by its closed version; a provisional candle is replaced by a later provisional one and by the closed one, never by a forming one; a closed candle is never replaced by a forming or provisional one, but may be by another closed one (REST reconciliation).';

CREATE TABLE IF NOT EXISTS candle_checks (
    exchange   text COLLATE "C" NOT NULL,
    symbol     text COLLATE "C" NOT NULL,
    timeframe  text COLLATE "C" NOT NULL,
    ts         timestamptz      NOT NULL,
    reason     text             NOT NULL CHECK (reason IN ('provisional', 'closed')),
    status     text             NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'abandoned')),
    due_at     timestamptz      NOT NULL,
    attempts   integer          NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error text             NULL,
    open       numeric          NULL,
    high       numeric          NULL,
    low        numeric          NULL,
    close      numeric          NULL,
    volume     numeric          NULL,
    created_at timestamptz      NOT NULL DEFAULT now(),
    updated_at timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT candle_checks_pkey PRIMARY KEY (exchange, symbol, timeframe, ts)
);
CREATE INDEX IF NOT EXISTS candle_checks_due ON candle_checks (exchange, due_at) WHERE status = 'pending';

COMMENT ON TABLE candle_checks IS
    'Candles waiting to be compared with the exchange''s own REST candle: provisional candles (until confirmed) and closed candles (checked once). A row is deleted when the check is done: the exchange''s candle stored, or ours found equal.';
COMMENT ON COLUMN candle_checks.exchange IS 'Exchange of the candle.';
COMMENT ON COLUMN candle_checks.symbol IS 'Instrument of the candle.';
COMMENT ON COLUMN candle_checks.timeframe IS 'Timeframe of the candle.';
COMMENT ON COLUMN candle_checks.ts IS 'Open time of the candle (UTC).';
COMMENT ON COLUMN candle_checks.reason IS 'provisional: built from part of its interval''s trades, stored as provisional until the exchange''s candle replaces it; closed: a closed candle compared once with the exchange''s.';
COMMENT ON COLUMN candle_checks.status IS 'pending: to be compared at due_at; abandoned: the exchange served no candle after the collector''s last attempt (the candle stays provisional; set back to pending by hand to retry).';
COMMENT ON COLUMN candle_checks.due_at IS 'When the next comparison may run (after a failure: the backoff''s end).';
COMMENT ON COLUMN candle_checks.attempts IS 'Comparisons that failed or found no exchange candle.';
COMMENT ON COLUMN candle_checks.last_error IS 'Why the last attempt failed; NULL when none did.';
COMMENT ON COLUMN candle_checks.open IS 'Our candle''s open when the check was recorded (high, low, close and volume likewise): a closed candle equal to the exchange''s is left alone; NULL when unknown.';
COMMENT ON COLUMN candle_checks.created_at IS 'When the check was recorded (database time).';
COMMENT ON COLUMN candle_checks.updated_at IS 'When the row last changed (database time).';

-- Every provisional candle stored gets its check in the same transaction,
-- whichever path stored it (the writer's COPY or merge, a spool replay), so
-- that a provisional candle in the table always has a pending check. The
-- first comparison is due a minute after the candle was received.
CREATE OR REPLACE FUNCTION candle_checks_record_provisional() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO candle_checks (exchange, symbol, timeframe, ts, reason, due_at, open, high, low, close, volume)
    VALUES (NEW.exchange, NEW.symbol, NEW.timeframe, NEW.ts, 'provisional', NEW.received_at + interval '1 minute',
            NEW.open, NEW.high, NEW.low, NEW.close, NEW.volume)
    ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE
        SET reason = 'provisional', status = 'pending', open = EXCLUDED.open, high = EXCLUDED.high,
            low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume, updated_at = now();
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS candles_provisional_check ON candles;
CREATE TRIGGER candles_provisional_check AFTER INSERT OR UPDATE ON candles
    FOR EACH ROW WHEN (NEW.provisional) EXECUTE FUNCTION candle_checks_record_provisional();

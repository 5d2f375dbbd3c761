-- marketetl schema 4: what gap backfill needs in the gaps table: the trade
-- id bounds of a gap, why a gap (or the part of one) cannot be filled, and
-- an index to find the open gaps of one stream.

ALTER TABLE gaps ADD COLUMN IF NOT EXISTS after_trade_id    bigint NULL CHECK (after_trade_id > 0);
ALTER TABLE gaps ADD COLUMN IF NOT EXISTS before_trade_id   bigint NULL CHECK (before_trade_id > 0);
ALTER TABLE gaps ADD COLUMN IF NOT EXISTS unfillable_reason text   NULL;

CREATE INDEX IF NOT EXISTS gaps_open_stream ON gaps (exchange, symbol, data_type, timeframe, from_ts)
    WHERE status IN ('open', 'filling');
CREATE INDEX IF NOT EXISTS gaps_status ON gaps (status, exchange);

COMMENT ON COLUMN gaps.after_trade_id IS 'For trade gaps bounded by trade id: the last trade id held before the gap (trades with after_trade_id < id < before_trade_id are missing); NULL when the gap is bounded by time only.';
COMMENT ON COLUMN gaps.before_trade_id IS 'For trade gaps bounded by trade id: the first trade id held after the gap; NULL when the gap is bounded by time only.';
COMMENT ON COLUMN gaps.unfillable_reason IS 'Why an unfillable gap cannot be filled: history_unavailable (older than the exchange serves), lookback_limit (older than BACKFILL_MAX_LOOKBACK), endpoint_refused (the exchange refused the request), no_trade_id (no trade id to page from); NULL otherwise.';

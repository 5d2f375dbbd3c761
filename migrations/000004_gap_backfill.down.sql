-- Undo 000004.
DROP INDEX IF EXISTS gaps_status;
DROP INDEX IF EXISTS gaps_open_stream;
ALTER TABLE gaps DROP COLUMN IF EXISTS unfillable_reason;
ALTER TABLE gaps DROP COLUMN IF EXISTS before_trade_id;
ALTER TABLE gaps DROP COLUMN IF EXISTS after_trade_id;

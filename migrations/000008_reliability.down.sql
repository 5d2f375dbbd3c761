-- Undo 000008.
DROP TRIGGER IF EXISTS candles_provisional_check ON candles;
DROP FUNCTION IF EXISTS candle_checks_record_provisional();
DROP TABLE IF EXISTS candle_checks;
ALTER TABLE candles DROP COLUMN IF EXISTS provisional;
COMMENT ON COLUMN candles.closed IS 'True for a final candle, false while it is still forming.';
COMMENT ON TABLE candles IS
    'OHLCV candles. A forming candle (closed false) is replaced by later updates and by its closed version; a closed candle is never replaced by a forming one, but may be by another closed one (REST reconciliation).';

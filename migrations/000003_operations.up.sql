-- marketetl schema 3/3: operations: collector health history, rejects,
-- runtime collector configuration and data gaps.

CREATE TABLE IF NOT EXISTS collector_status (
    ts                      timestamptz      NOT NULL,
    collector               text             NOT NULL,
    exchange                text             NOT NULL,
    status                  text             NOT NULL,
    healthy                 boolean          NOT NULL,
    issues                  text[]           NOT NULL DEFAULT '{}',
    messages_received       bigint           NOT NULL DEFAULT 0,
    messages_processed      bigint           NOT NULL DEFAULT 0,
    records                 bigint           NOT NULL DEFAULT 0,
    errors                  bigint           NOT NULL DEFAULT 0,
    restarts                bigint           NOT NULL DEFAULT 0,
    reconnect_attempts      bigint           NOT NULL DEFAULT 0,
    time_since_data_seconds double precision NULL,
    last_error              text             NULL
);
CREATE INDEX IF NOT EXISTS collector_status_collector_ts ON collector_status (collector, ts DESC);
CREATE INDEX IF NOT EXISTS collector_status_ts_brin ON collector_status USING brin (ts);

COMMENT ON TABLE collector_status IS
    'Health snapshots written by the supervisor: one row per collector per health-check round.';
COMMENT ON COLUMN collector_status.ts IS 'Time of the health check (UTC).';
COMMENT ON COLUMN collector_status.collector IS 'Collector name (collectors.name).';
COMMENT ON COLUMN collector_status.exchange IS 'Exchange of the collector.';
COMMENT ON COLUMN collector_status.status IS 'Supervisor state: running, restarting, failed, stopped.';
COMMENT ON COLUMN collector_status.healthy IS 'Whether the health check passed.';
COMMENT ON COLUMN collector_status.issues IS 'Why the collector is unhealthy; empty when healthy.';
COMMENT ON COLUMN collector_status.messages_received IS 'Frames read since the service started.';
COMMENT ON COLUMN collector_status.messages_processed IS 'Frames decoded and handled since the service started.';
COMMENT ON COLUMN collector_status.records IS 'Records produced since the service started.';
COMMENT ON COLUMN collector_status.errors IS 'Errors since the service started.';
COMMENT ON COLUMN collector_status.restarts IS 'Restarts by the supervisor since the service started.';
COMMENT ON COLUMN collector_status.reconnect_attempts IS 'Reconnect attempts of the collector since the service started.';
COMMENT ON COLUMN collector_status.time_since_data_seconds IS 'Seconds since the last record; NULL before the first.';
COMMENT ON COLUMN collector_status.last_error IS 'Latest error, with secrets redacted; NULL when none.';

CREATE TABLE IF NOT EXISTS rejects (
    id        bigint      GENERATED ALWAYS AS IDENTITY,
    ts        timestamptz NOT NULL,
    exchange  text        NULL,
    symbol    text        NULL,
    data_type text        NULL,
    reason    text        NOT NULL,
    field     text        NULL,
    detail    text        NULL,
    sqlstate  text        NULL,
    raw       text        NULL,
    raw_bytes integer     NULL CHECK (raw_bytes >= 0),
    CONSTRAINT rejects_pkey PRIMARY KEY (id, ts)
);
CREATE INDEX IF NOT EXISTS rejects_ts_brin ON rejects USING brin (ts);

COMMENT ON TABLE rejects IS
    'What was refused, with its reason: records that failed validation, frames that could not be decoded, and rows the database refused (sqlstate set). Stored at a bounded rate; the rest are only counted.';
COMMENT ON COLUMN rejects.id IS 'Row id, in order of storing.';
COMMENT ON COLUMN rejects.ts IS 'When the frame carrying it was read (UTC).';
COMMENT ON COLUMN rejects.exchange IS 'Exchange it came from; NULL if unknown.';
COMMENT ON COLUMN rejects.symbol IS 'Symbol, when the frame was parsed far enough to know it.';
COMMENT ON COLUMN rejects.data_type IS 'Data type (ticker, trade, candle, orderbook, balance), when known.';
COMMENT ON COLUMN rejects.reason IS 'Stable snake_case reason code (validation reasons, database_refused, unstorable_value, ...).';
COMMENT ON COLUMN rejects.field IS 'Field at fault (or, for database_refused, the constraint or column), if any.';
COMMENT ON COLUMN rejects.detail IS 'Human-readable explanation.';
COMMENT ON COLUMN rejects.sqlstate IS 'SQLSTATE of the database error, for rows the database refused; NULL otherwise.';
COMMENT ON COLUMN rejects.raw IS 'The offending payload as text, truncated to the writer''s limit (default 4096 bytes) at a character boundary; invalid UTF-8 and NUL bytes replaced by U+FFFD.';
COMMENT ON COLUMN rejects.raw_bytes IS 'Length of the payload before truncation, in bytes; larger than octet_length(raw) when truncated.';

CREATE TABLE IF NOT EXISTS collectors (
    name       text        PRIMARY KEY,
    spec       jsonb       NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
    enabled    boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE collectors IS
    'Runtime collector configuration kept by the supervisor, so that changes made through the admin API survive a restart.';
COMMENT ON COLUMN collectors.name IS 'Unique collector name.';
COMMENT ON COLUMN collectors.spec IS 'The collector specification (exchange, symbols, data types, timeframes, health settings) as a JSON object.';
COMMENT ON COLUMN collectors.enabled IS 'Whether the supervisor runs the collector.';
COMMENT ON COLUMN collectors.created_at IS 'When the collector was first stored.';
COMMENT ON COLUMN collectors.updated_at IS 'When the collector was last changed.';

CREATE TABLE IF NOT EXISTS gaps (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exchange    text        NOT NULL,
    symbol      text        NOT NULL,
    data_type   text        NOT NULL,
    timeframe   text        NULL,
    from_ts     timestamptz NOT NULL,
    to_ts       timestamptz NOT NULL,
    reason      text        NOT NULL,
    status      text        NOT NULL DEFAULT 'open'
                            CHECK (status IN ('open', 'filling', 'filled', 'unfillable')),
    attempts    integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    filled_rows bigint      NOT NULL DEFAULT 0 CHECK (filled_rows >= 0),
    last_error  text        NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gaps_range CHECK (to_ts >= from_ts)
);
CREATE INDEX IF NOT EXISTS gaps_stream ON gaps (exchange, symbol, data_type, from_ts);
CREATE INDEX IF NOT EXISTS gaps_pending ON gaps (created_at) WHERE status IN ('open', 'filling');

COMMENT ON TABLE gaps IS 'Periods for which data is known or suspected to be missing, and the progress of filling them from REST history.';
COMMENT ON COLUMN gaps.id IS 'Gap id.';
COMMENT ON COLUMN gaps.exchange IS 'Exchange of the stream.';
COMMENT ON COLUMN gaps.symbol IS 'Symbol of the stream.';
COMMENT ON COLUMN gaps.data_type IS 'Data type of the stream (trade, candle, ...).';
COMMENT ON COLUMN gaps.timeframe IS 'Candle timeframe; NULL for other data types.';
COMMENT ON COLUMN gaps.from_ts IS 'Start of the missing period (UTC, inclusive).';
COMMENT ON COLUMN gaps.to_ts IS 'End of the missing period (UTC, exclusive).';
COMMENT ON COLUMN gaps.reason IS 'Why the gap was recorded (for example reconnect, sequence_gap, restart).';
COMMENT ON COLUMN gaps.status IS 'open (not yet tried), filling (in progress), filled, or unfillable (history not available).';
COMMENT ON COLUMN gaps.attempts IS 'How many times filling was tried.';
COMMENT ON COLUMN gaps.filled_rows IS 'Rows stored while filling.';
COMMENT ON COLUMN gaps.last_error IS 'Error of the last failed attempt; NULL when none.';
COMMENT ON COLUMN gaps.created_at IS 'When the gap was recorded.';
COMMENT ON COLUMN gaps.updated_at IS 'When the gap last changed.';

-- With TimescaleDB: health history and rejects become hypertables. Rejects
-- are compressed after a week; health rows are deleted by the supervisor's
-- retention, which is cheaper on uncompressed chunks.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;

    PERFORM create_hypertable('collector_status', 'ts', chunk_time_interval => INTERVAL '7 days',
                              if_not_exists => TRUE, create_default_indexes => FALSE);

    PERFORM create_hypertable('rejects', 'ts', chunk_time_interval => INTERVAL '7 days',
                              if_not_exists => TRUE, create_default_indexes => FALSE);
    ALTER TABLE rejects SET (timescaledb.compress,
                             timescaledb.compress_segmentby = 'exchange',
                             timescaledb.compress_orderby = 'ts DESC, id');
    PERFORM add_compression_policy('rejects', INTERVAL '7 days', if_not_exists => TRUE);
END
$$;

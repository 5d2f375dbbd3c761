package config

import (
	"time"
)

// Config is the service's configuration from the environment. Each field
// names its variable; Variables lists them with defaults and descriptions.
type Config struct {
	// DatabaseURL is DATABASE_URL.
	DatabaseURL string
	// DatabaseWait is DATABASE_WAIT: how long startup waits for an
	// unreachable database before giving up.
	DatabaseWait time.Duration
	// Store settings.
	StoreBatchSize       int
	StoreFlushInterval   time.Duration
	StoreFlushTimeout    time.Duration
	StoreQueueSize       int
	StoreRejectsPerSec   int
	StoreRawLimit        int
	StoreCopyWriters     int
	ValidateClockSkew    time.Duration
	ShutdownTimeout      time.Duration
	CollectorsConfigPath string

	// Durable spool (SPOOL_DIR empty: none).
	SpoolDir           string
	SpoolMaxBytes      int
	SpoolFsync         string
	SpoolFsyncInterval time.Duration
	SpoolAfter         time.Duration

	// Redis live feed.
	RedisEnabled       bool
	RedisURL           string
	RedisChannelPrefix string
	RedisStreamMaxLen  int
	RedisBatchSize     int
	RedisFlushInterval time.Duration
	RedisQueueSize     int

	// Exchange endpoints.
	OKXPublicWS    string
	OKXBusinessWS  string
	OKXPrivateWS   string
	BinanceWSAPI   string
	OKXREST        string
	BinanceWS      string
	BinanceREST    string
	CoinbaseWS     string
	CoinbaseREST   string
	KrakenWS       string
	KrakenREST     string
	ReadLimitBytes int

	// Gap backfill and the exchanges' REST budgets.
	BackfillEnabled     bool
	BackfillMaxLookback time.Duration
	OKXRESTRate         int
	BinanceRESTWeight   int
	CoinbaseRESTRate    int
	KrakenRESTRate      int

	// Supervisor and admin API.
	AdminAddr  string
	AdminToken string
	// ManagerName is MANAGER_NAME: the supervisor's name in the status
	// report and the metrics.
	ManagerName               string
	HealthCheckInterval       time.Duration
	GlobalHealthCheckInterval time.Duration
	MaxSilence                time.Duration
	ReconnectDelay            time.Duration
	ReconnectDelayMax         time.Duration
	MaxReconnectAttempts      int
	HeartbeatTimeout          time.Duration
	MaxErrorsPerMinute        int
	FailureDecay              time.Duration
	FailedRetryInterval       time.Duration
	StopTimeout               time.Duration
	StatusRetention           time.Duration

	// Retention per table (0: kept for ever) and the DELETE job's pace.
	RetentionTrades        time.Duration
	RetentionTickers       time.Duration
	RetentionBookSnapshots time.Duration
	RetentionBookUpdates   time.Duration
	RetentionRejects       time.Duration
	RetentionFilledGaps    time.Duration
	RetentionCandles       time.Duration
	RetentionInterval      time.Duration
	RetentionBatchSize     int

	// Several instances sharing the collectors (docs/SCALING.md).
	Cluster          bool
	InstanceID       string
	ClusterLease     time.Duration
	ClusterHeartbeat time.Duration
	ClusterRebalance time.Duration

	// Logging.
	LogLevel    string
	LogFormat   string
	LogDir      string
	LogMaxFiles int
	LogCleanup  bool
}

func load(e *env) Config {
	var c Config
	c.DatabaseURL = e.urlVar("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/marketetl?sslmode=disable",
		"PostgreSQL/TimescaleDB connection URL (libpq URL form; a password in it is never logged)", true, "postgres", "postgresql")
	c.DatabaseWait = e.duration("DATABASE_WAIT", 60*time.Second, 0,
		"how long startup retries an unreachable database before exiting with an error (0: fail at once)")
	c.StoreBatchSize = e.integer("STORE_BATCH_SIZE", 5000, 1, 1_000_000, "rows per COPY batch: a table is flushed when its buffer reaches this many rows")
	c.StoreFlushInterval = e.duration("STORE_FLUSH_INTERVAL", 25*time.Millisecond, time.Millisecond,
		"a table's buffer is flushed when its oldest row is this old, even if the batch is not full")
	c.StoreFlushTimeout = e.duration("STORE_FLUSH_TIMEOUT", 30*time.Second, 100*time.Millisecond,
		"bound of one attempt to store a batch (also the statement_timeout of the writer's connections); a flush blocked longer, on a lock say, is cancelled and retried with its rows kept")
	c.StoreQueueSize = e.integer("STORE_QUEUE_SIZE", 50000, 1, 10_000_000, "records the writer's queue holds before producers block (backpressure)")
	c.StoreRejectsPerSec = e.integer("STORE_REJECTS_PER_SECOND", 100, 1, 1_000_000, "rejects stored per second at most (with a burst of the same size); beyond, they are counted, not stored")
	c.StoreRawLimit = e.integer("STORE_REJECT_RAW_BYTES", 4096, 0, 1<<20, "a rejected payload is kept truncated to this many bytes")
	c.StoreCopyWriters = e.integer("STORE_COPY_WRITERS", 2, 1, 16, "concurrent COPY statements (one connection each) that share a large batch of trades, tickers, books or balances; candles always use one")
	c.ValidateClockSkew = e.duration("VALIDATE_CLOCK_SKEW", 5*time.Second, 0, "how far in the future an exchange timestamp may be before a record is rejected")
	c.ShutdownTimeout = e.duration("SHUTDOWN_TIMEOUT", 25*time.Second, time.Second, "deadline for a graceful stop on SIGINT/SIGTERM (below Kubernetes' 30 s)")
	c.CollectorsConfigPath = e.str("ETL_CONFIG", "collectors.yaml", "path of the YAML file of collectors")
	c.SpoolDir = e.str("SPOOL_DIR", ".spool", "directory of the on-disk spool that keeps records while the database cannot take them (empty: no spool; producers then block when the store's queue is full)")
	c.SpoolMaxBytes = e.integer("SPOOL_MAX_BYTES", 1<<30, 1<<20, 1<<50, "size cap of the spool; beyond it records are dropped, counted and recorded as gaps")
	c.SpoolFsync = e.choice("SPOOL_FSYNC", "interval", "when spooled records are forced to disk: interval (every SPOOL_FSYNC_INTERVAL), always (every record) or never (left to the OS)", "interval", "always", "never")
	c.SpoolAfter = e.duration("SPOOL_AFTER", 100*time.Millisecond, 0, "how long a record waits for room in the store's full queue before records go to the spool (a flush frees room; a database that stalls longer is spooled); none behind a flush in progress for a second or more (a stalled database); 0: at once")
	c.SpoolFsyncInterval = e.duration("SPOOL_FSYNC_INTERVAL", 100*time.Millisecond, time.Millisecond, "period of SPOOL_FSYNC=interval: an OS crash or power loss loses at most this much of the spool")

	c.RedisEnabled = e.boolean("REDIS_ENABLED", true, "publish every accepted record on Redis")
	c.RedisURL = e.urlVar("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL (redis:// or rediss:// for TLS; a password in it is never logged)", true, "redis", "rediss", "unix")
	c.RedisChannelPrefix = e.str("REDIS_CHANNEL_PREFIX", "md", "first part of every channel name: <prefix>:<exchange>:<type>:<symbol>")
	c.RedisStreamMaxLen = e.integer("REDIS_STREAM_MAXLEN", 0, 0, 1<<30, "when > 0, also XADD each record to <prefix>:stream:<exchange>:<type>:<symbol>, trimmed to about this many entries")
	c.RedisBatchSize = e.integer("REDIS_BATCH_SIZE", 500, 1, 100_000, "messages per Redis pipeline")
	c.RedisFlushInterval = e.duration("REDIS_FLUSH_INTERVAL", 0, 0, "when > 0, longest a message waits for its pipeline to fill to REDIS_BATCH_SIZE (fewer, bigger writes for more latency); 0: a pipeline goes as soon as the sender is free")
	c.RedisQueueSize = e.integer("REDIS_QUEUE_SIZE", 100000, 1, 10_000_000, "messages queued for Redis; when full (or Redis is down) messages are dropped and counted")

	c.OKXPublicWS = e.urlVar("OKX_WS_PUBLIC_URL", "wss://ws.okx.com:8443/ws/v5/public", "OKX public WebSocket (full URL)", false, "ws", "wss")
	c.OKXBusinessWS = e.urlVar("OKX_WS_BUSINESS_URL", "wss://ws.okx.com:8443/ws/v5/business", "OKX business WebSocket, for candles (full URL)", false, "ws", "wss")
	c.OKXPrivateWS = e.urlVar("OKX_WS_PRIVATE_URL", "wss://ws.okx.com:8443/ws/v5/private", "OKX private WebSocket, for balances (full URL)", false, "ws", "wss")
	c.OKXREST = e.urlVar("OKX_REST_URL", "https://www.okx.com", "OKX REST base URL", false, "http", "https")
	c.BinanceWS = e.urlVar("BINANCE_WS_URL", "wss://stream.binance.com:9443", "Binance WebSocket base URL (/stream?streams=… is appended)", false, "ws", "wss")
	c.BinanceWSAPI = e.urlVar("BINANCE_WS_API_URL", "wss://ws-api.binance.com:443/ws-api/v3", "Binance WebSocket API, for balances (full URL)", false, "ws", "wss")
	c.BinanceREST = e.urlVar("BINANCE_REST_URL", "https://api.binance.com", "Binance REST base URL", false, "http", "https")
	c.CoinbaseWS = e.urlVar("COINBASE_WS_URL", "wss://ws-feed.exchange.coinbase.com", "Coinbase Exchange WebSocket feed (full URL)", false, "ws", "wss")
	c.CoinbaseREST = e.urlVar("COINBASE_REST_URL", "https://api.exchange.coinbase.com", "Coinbase Exchange REST base URL", false, "http", "https")
	c.KrakenWS = e.urlVar("KRAKEN_WS_URL", "wss://ws.kraken.com/v2", "Kraken spot WebSocket v2, public (full URL)", false, "ws", "wss")
	c.KrakenREST = e.urlVar("KRAKEN_REST_URL", "https://api.kraken.com", "Kraken REST base URL (/0/public/… is appended)", false, "http", "https")
	c.ReadLimitBytes = e.integer("WS_READ_LIMIT_BYTES", 4<<20, 1024, 1<<30, "largest WebSocket frame accepted; a larger one is rejected and the connection redialled")

	c.BackfillEnabled = e.boolean("BACKFILL_ENABLED", true, "fill gaps in the stored data from the exchanges' REST history (gaps are recorded in the gaps table either way)")
	c.BackfillMaxLookback = e.duration("BACKFILL_MAX_LOOKBACK", 24*time.Hour, time.Minute, "the part of a gap older than this is recorded unfillable (lookback_limit) instead of fetched")
	c.OKXRESTRate = e.integer("OKX_REST_RATE", 10, 1, 10000, "OKX REST requests per second, burst twice that (OKX: history-trades and history-candles 20 requests per 2 s per IP)")
	c.BinanceRESTWeight = e.integer("BINANCE_REST_WEIGHT_PER_MINUTE", 6000, 1, 1_000_000, "Binance REST request weight per minute (Binance: 6000 per IP; klines weigh 2, historicalTrades 25)")
	c.CoinbaseRESTRate = e.integer("COINBASE_REST_RATE", 10, 1, 10000, "Coinbase REST requests per second, burst 1.5 times that (Coinbase: public endpoints 10 per second per IP, burst 15)")
	c.KrakenRESTRate = e.integer("KRAKEN_REST_RATE", 1, 1, 10000, "Kraken REST requests per second, burst 2 (Kraken: public endpoints about 1 per second per IP and pair)")

	c.AdminAddr = e.str("ETL_ADMIN_ADDR", "127.0.0.1:8080", "admin HTTP API listen address (empty: no admin API)")
	c.AdminToken = e.secret("ETL_ADMIN_TOKEN", "bearer token required by the mutating admin endpoints, at least 16 characters; without it they are refused")
	c.ManagerName = e.str("MANAGER_NAME", "marketetl", "the manager's name: manager.name in GET /api/status and the manager label of etl_supervisor_info")
	c.HealthCheckInterval = e.duration("DEFAULT_HEALTH_CHECK_INTERVAL", 30*time.Second, 100*time.Millisecond, "per-collector health check period (a collector's health_check_interval overrides it)")
	c.GlobalHealthCheckInterval = e.duration("GLOBAL_HEALTH_CHECK_INTERVAL", 60*time.Second, 100*time.Millisecond, "period of the check across all collectors")
	c.MaxSilence = e.duration("MAX_SILENCE_DURATION", 300*time.Second, time.Second, "a stream with no data for longer is stale (per collector and data type overridable); a new run's stream is judged from its first confirmed subscription, so connecting and subscribing do not count as silence")
	c.ReconnectDelay = e.duration("RECONNECT_DELAY", 5*time.Second, 10*time.Millisecond, "first delay of both retry layers: a collector's redials of a lost connection and the supervisor's restarts (doubles, jittered)")
	c.ReconnectDelayMax = e.duration("RECONNECT_DELAY_MAX", 5*time.Minute, 10*time.Millisecond, "cap of the redial and restart backoff")
	c.MaxReconnectAttempts = e.integer("MAX_RECONNECT_ATTEMPTS", 5, 1, 1000, "consecutive failed redials of a connection before its collector gives up to the supervisor, and consecutive failed restarts before the supervisor marks it failed")
	c.HeartbeatTimeout = e.duration("HEARTBEAT_TIMEOUT", 90*time.Second, 100*time.Millisecond, "a collector that reads no frame at all (data, pong, heartbeat) or stays disconnected this long is unhealthy")
	c.MaxErrorsPerMinute = e.integer("MAX_ERRORS_PER_MINUTE", 60, 0, 1_000_000, "error rate above which a collector is reported unhealthy; above it at every health check for a minute, the collector is restarted")
	c.FailureDecay = e.duration("FAILURE_DECAY", 10*time.Minute, time.Second, "a collector that ran this long without failing starts its failure count afresh")
	c.FailedRetryInterval = e.duration("FAILED_RETRY_INTERVAL", 10*time.Minute, time.Second, "how often a failed collector is tried again")
	c.StopTimeout = e.duration("COLLECTOR_STOP_TIMEOUT", 10*time.Second, 100*time.Millisecond, "how long a stopping collector may take before it is reported as hung")
	c.StatusRetention = e.duration("STATUS_RETENTION", 30*24*time.Hour, time.Hour, "collector_status rows older than this are deleted")

	c.RetentionTrades = e.duration("RETENTION_TRADES", 90*24*time.Hour, 0, "trades older than this are deleted (0: kept for ever)")
	c.RetentionTickers = e.duration("RETENTION_TICKERS", 30*24*time.Hour, 0, "tickers older than this are deleted (0: kept for ever)")
	c.RetentionBookSnapshots = e.duration("RETENTION_BOOK_SNAPSHOTS", 7*24*time.Hour, 0, "book_snapshots older than this are deleted (0: kept for ever)")
	c.RetentionBookUpdates = e.duration("RETENTION_BOOK_UPDATES", 3*24*time.Hour, 0, "book_updates older than this are deleted, once that table exists (0: kept for ever)")
	c.RetentionRejects = e.duration("RETENTION_REJECTS", 30*24*time.Hour, 0, "rejects older than this are deleted (0: kept for ever)")
	c.RetentionFilledGaps = e.duration("RETENTION_FILLED_GAPS", 30*24*time.Hour, 0, "filled gaps not changed for this long are deleted; open, filling and unfillable gaps are kept (0: kept for ever)")
	c.RetentionCandles = e.duration("RETENTION_CANDLES", 0, 0, "candles older than this are deleted (0: kept for ever)")
	c.RetentionInterval = e.duration("RETENTION_INTERVAL", time.Hour, time.Minute, "period of the retention job's DELETE passes (tables without a TimescaleDB retention policy)")
	c.RetentionBatchSize = e.integer("RETENTION_BATCH_SIZE", 10000, 1, 1_000_000, "rows one retention DELETE statement removes at most (a pass deletes at most 100 times that per table)")

	c.Cluster = e.boolean("ETL_CLUSTER", false, "share the collectors with the other instances on the same database: each collector runs on one instance, and a dead instance's collectors move to the others (docs/SCALING.md)")
	c.InstanceID = e.str("ETL_INSTANCE_ID", "", "this instance's name in the cluster (empty: <host name>-<process id>)")
	c.ClusterLease = e.duration("ETL_CLUSTER_LEASE", 8*time.Second, time.Second, "an instance silent this long loses its collectors to the others (its database session is ended); it stops them itself after half of it")
	c.ClusterHeartbeat = e.duration("ETL_CLUSTER_HEARTBEAT", time.Second, 50*time.Millisecond, "heartbeat period of an instance's cluster session (at most a quarter of ETL_CLUSTER_LEASE)")
	c.ClusterRebalance = e.duration("ETL_CLUSTER_REBALANCE_INTERVAL", 2*time.Second, 50*time.Millisecond, "how often an instance takes unowned collectors and gives up those above its share (after two evaluations in a row)")

	c.LogLevel = e.choice("LOG_LEVEL", "info", "debug, info, warn or error", "debug", "info", "warn", "error")
	c.LogFormat = e.choice("LOG_FORMAT", "console", "console or json", "console", "json")
	c.LogDir = e.str("LOG_DIR", "", "when set, logs are also written to rotating files etl.log in this directory")
	c.LogMaxFiles = e.integer("LOG_MAX_FILES", 30, 1, 10000, "rotated log files kept in LOG_DIR")
	c.LogCleanup = e.boolean("LOG_CLEANUP", true, "remove rotated log files beyond LOG_MAX_FILES")
	return c
}

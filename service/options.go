package service

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"marketetl/backfill"
	"marketetl/collector"
	"marketetl/spool"
	"marketetl/store"
)

// Option changes how New builds the service.
type Option func(*options)

// backfillMode says whether and how the gap filler runs.
type backfillMode int

const (
	// backfillAuto: the filler records every gap and, with
	// BACKFILL_ENABLED, fills them, resuming pending gaps at start.
	backfillAuto backfillMode = iota
	// backfillManual: the filler is built but not run; Filler().Fill
	// works one gap (etl backfill).
	backfillManual
	// backfillOff: no filler; gaps are only logged and counted.
	backfillOff
)

type options struct {
	log               *zap.Logger
	endpoints         *Endpoints
	httpClient        *http.Client
	metrics           Registerer
	onFlush           func(store.FlushResult)
	onPublishReceived func(received []time.Time)
	onProgress        func(backfill.Progress)
	collector         func(*collector.Config)
	store             func(*store.Config)
	spool             func(*spool.Config)
	backfillConfig    func(*backfill.Config)
	backfill          backfillMode
	supervised        bool
	now               func() time.Time
}

// WithClock sets the local clock that validation and the collectors read
// (default time.Now): tests run the service on a host clock that is off.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the service's logger (default: none).
func WithLogger(log *zap.Logger) Option { return func(o *options) { o.log = log } }

// WithEndpoints points the exchange adapters at ep instead of the
// configured URLs (the simulated exchange, the benchmark's frame server).
func WithEndpoints(ep Endpoints) Option { return func(o *options) { o.endpoints = &ep } }

// WithHTTPClient is the REST client the adapters' clients are copied from
// (each behind its exchange's budget); default: a 30 s timeout.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithMetrics registers the service's metrics on reg and serves them from
// it (default: a new registry with the Go and process collectors).
func WithMetrics(reg Registerer) Option { return func(o *options) { o.metrics = reg } }

// WithOnFlush observes each store flush, beside the flush metrics; fn must
// not block.
func WithOnFlush(fn func(store.FlushResult)) Option { return func(o *options) { o.onFlush = fn } }

// WithOnPublishReceived observes the receipt times of each batch
// published on Redis; fn must not block.
func WithOnPublishReceived(fn func(received []time.Time)) Option {
	return func(o *options) { o.onPublishReceived = fn }
}

// WithCollectorConfig changes each collector's configuration after the
// service has filled it in (tests: faster reconnects, read deadlines).
func WithCollectorConfig(fn func(*collector.Config)) Option {
	return func(o *options) { o.collector = fn }
}

// WithStoreConfig changes the store writer's configuration after the
// service has filled it in from the environment (tests: retry bounds).
func WithStoreConfig(fn func(*store.Config)) Option { return func(o *options) { o.store = fn } }

// WithSpoolConfig changes the spool's configuration after the service has
// filled it in from the environment (tests: segment size).
func WithSpoolConfig(fn func(*spool.Config)) Option { return func(o *options) { o.spool = fn } }

// WithBackfillConfig changes the gap filler's configuration after the
// service has filled it in (tests: retry bounds).
func WithBackfillConfig(fn func(*backfill.Config)) Option {
	return func(o *options) { o.backfillConfig = fn }
}

// WithoutBackfill builds no gap filler: the collectors still detect gaps
// (seeded from the last stored records) but only log and count them.
func WithoutBackfill() Option { return func(o *options) { o.backfill = backfillOff } }

// WithManualBackfill builds the gap filler without running it: pending
// gaps are not resumed, and the caller fills one with Filler().Fill
// inside RunWith. onProgress (may be nil) observes the fill.
func WithManualBackfill(onProgress func(backfill.Progress)) Option {
	return func(o *options) { o.backfill, o.onProgress = backfillManual, onProgress }
}

// WithoutSupervisor builds no supervisor and no admin API: the caller
// builds collectors with Collector and runs them in RunWith.
func WithoutSupervisor() Option { return func(o *options) { o.supervised = false } }

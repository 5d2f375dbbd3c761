// Package service builds and runs marketetl from its configuration: the
// store writer (behind the durable spool when SPOOL_DIR is set), the Redis
// publisher, the validating pipeline, the exchange adapters behind their
// REST budgets, the collectors with gap detection, the gap filler, the
// supervisor with its admin API, and the metrics. It is the one place
// that wires them: `etl run`, `etl demo`, `etl backfill`, `etl bench`, the
// end-to-end tests and the fault suite all build the service here.
//
// The service knows no concrete exchange: the caller passes a Registry,
// the map from exchange to adapter constructor (package exchange builds
// the project's).
package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/backfill"
	"marketetl/cluster"
	"marketetl/collector"
	"marketetl/config"
	"marketetl/dispatch"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/pubsub"
	"marketetl/spec"
	"marketetl/spool"
	"marketetl/store"
	"marketetl/supervisor"
)

// The pipeline is the collectors' sink.
var _ collector.Sink = (*pipeline.Pipeline)(nil)

// Service is the whole service, built by New and run by Run or RunWith.
type Service struct {
	cfg  config.Config
	opts options
	log  *zap.Logger
	pool *pgxpool.Pool

	writer *store.Writer
	buffer *spool.Buffer     // nil when SPOOL_DIR is empty
	pub    *pubsub.Publisher // nil when REDIS_ENABLED=false
	pipe   *pipeline.Pipeline
	// privatePipe is pipe without the live feed, for balances not
	// published.
	privatePipe *pipeline.Pipeline
	checker     pipeline.Checker
	// callbacks are the in-process subscribers of the embedding API.
	callbacks *dispatch.Dispatcher
	// spoolGaps hands the gaps of records the full spool dropped to the
	// filler, built after the spool.
	spoolGaps *gapRelay

	budgets  restBudgets
	adapters map[market.Exchange]Adapter
	// dials paces the connection attempts of all the collectors of each
	// exchange together (nil for an exchange that declares no pace).
	dials map[market.Exchange]*collector.DialPacer
	// exchanges, endpoints and privateEndpoints build the private
	// (balance) adapters, one per balance collector.
	exchanges        Registry
	endpoints        Endpoints
	privateEndpoints PrivateEndpoints
	backfill         *backfillParts // nil WithoutBackfill
	detect           gapDetection
	// clocks measures each exchange's clock from the trades received:
	// reported in status and metrics, read by validation.
	clocks *collector.ClockSkew
	// shutdown is the one deadline shared by the supervisor's stop and
	// the writer's drain.
	shutdown *shutdownClock

	manager *supervisor.Manager  // nil WithoutSupervisor
	cluster *cluster.Coordinator // nil unless ETL_CLUSTER=true
	api     *supervisor.API      // nil without ETL_ADMIN_ADDR or supervisor
	metrics Registerer
	// reads is the admin API's cached database state over adminReads, its
	// own small pool (nil without the API); gapCounts returns its gap
	// counts for the status and the metrics (nil: not reported), so that
	// no request queries the database.
	reads      *supervisor.ReadCache
	adminReads *adminReads
	gapCounts  func() (store.GapCounts, bool)
}

// Registerer is where the service registers its metrics and what the
// admin API's /metrics gathers; *prometheus.Registry is one.
type Registerer interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// New builds the service from cfg over pool (opened by the caller, with
// OpenDatabase for the configured wait, and closed by the caller after
// Run has returned), with the adapters of exchanges. Nothing runs until
// Run.
func New(cfg config.Config, pool *pgxpool.Pool, exchanges Registry, opts ...Option) (*Service, error) {
	o := options{backfill: backfillAuto, supervised: true}
	for _, opt := range opts {
		opt(&o)
	}
	if pool == nil {
		return nil, errors.New("build service: no database pool")
	}
	if len(exchanges) == 0 {
		return nil, errors.New("build service: no exchanges registered")
	}
	if o.log == nil {
		o.log = zap.NewNop()
	}
	if o.metrics == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		o.metrics = reg
	}
	if o.httpClient == nil {
		o.httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	ep := EndpointsFromConfig(cfg)
	if o.endpoints != nil {
		ep = *o.endpoints
	}
	pep := PrivateEndpointsFromConfig(cfg)
	if o.private != nil {
		pep = *o.private
	}
	s := &Service{cfg: cfg, opts: o, log: o.log, pool: pool, metrics: o.metrics, exchanges: exchanges, endpoints: ep, privateEndpoints: pep,
		clocks: collector.NewClockSkew(), shutdown: newShutdownClock(cfg.ShutdownTimeout)}
	flushes, err := newFlushMetrics(o.metrics)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := s.buildData(flushes); err != nil {
		return nil, err
	}
	s.budgets = newRESTBudgets(cfg, exchanges)
	if s.adapters, err = s.budgets.adapters(exchanges, ep, o.httpClient); err != nil {
		return nil, err
	}
	s.dials = dialPacers(s.adapters)
	if o.backfill != backfillOff {
		if err := s.buildBackfill(); err != nil {
			return nil, err
		}
	}
	s.detect = newGapDetection(pool, s.gapRecorder(), s.buffer)
	if err := registerDataMetrics(o.metrics, s); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if o.supervised {
		if err := s.buildSupervisor(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// buildSupervisor builds the collector manager over the registry and
// status tables and, with ETL_ADMIN_ADDR, the admin API.
func (s *Service) buildSupervisor() error {
	cfg := s.cfg
	secrets := []string{cfg.AdminToken}
	m, err := supervisor.New(supervisor.Config{
		HealthCheckInterval:       cfg.HealthCheckInterval,
		GlobalHealthCheckInterval: cfg.GlobalHealthCheckInterval,
		MaxSilence:                cfg.MaxSilence,
		HeartbeatTimeout:          cfg.HeartbeatTimeout,
		MaxErrorsPerMinute:        float64(cfg.MaxErrorsPerMinute),
		ReconnectDelay:            cfg.ReconnectDelay,
		ReconnectDelayMax:         cfg.ReconnectDelayMax,
		MaxReconnectAttempts:      cfg.MaxReconnectAttempts,
		FailureDecay:              cfg.FailureDecay,
		FailedRetryInterval:       cfg.FailedRetryInterval,
		StopTimeout:               cfg.StopTimeout,
		ShutdownTimeout:           cfg.ShutdownTimeout * 3 / 5,
		StatusRetention:           cfg.StatusRetention,
		Name:                      cfg.ManagerName,
		Secrets:                   secrets,
		Registerer:                s.metrics,
		Log:                       s.log.Named("supervisor"),
	}, func(sp spec.Collector) (supervisor.Runner, error) { return s.Collector(sp) },
		store.NewRegistry(s.pool), store.NewStatusLog(s.pool))
	if err != nil {
		return err
	}
	s.manager = m
	if cfg.Cluster {
		if err := s.buildCluster(); err != nil {
			return err
		}
	}
	if cfg.AdminAddr == "" {
		return nil
	}
	if err := s.buildReads(); err != nil {
		return err
	}
	s.api, err = supervisor.NewAPI(supervisor.APIConfig{
		Addr: cfg.AdminAddr, Token: cfg.AdminToken, Reads: s.reads, Gatherer: s.metrics, Secrets: secrets, Log: s.log.Named("api"),
		Components: s.components,
	}, m)
	return err
}

// Run runs the service until ctx ends: the data path, the gap filler, the
// supervisor and the admin API. When ctx ends, the collectors stop first,
// then the store writer and the publisher drain and flush, so nothing
// accepted is lost; Run returns once everything it started has stopped.
func (s *Service) Run(ctx context.Context) error { return s.RunWith(ctx, nil) }

// RunWith is Run with fn (may be nil) run beside the collectors, under
// the same context: the collectors of Collector, a simulated exchange, a
// manual fill. fn must return when its context ends; the data path drains
// after it has returned. When the service runs nothing else (no
// supervisor), fn returning ends the run.
func (s *Service) RunWith(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.runWithData(ctx, func(ctx context.Context) error {
		g, gctx := errgroup.WithContext(ctx)
		if s.manager != nil {
			g.Go(func() error { return s.manager.Run(gctx) })
		}
		if s.cluster != nil {
			g.Go(func() error { return s.cluster.Run(gctx) })
		}
		if s.api != nil {
			g.Go(func() error { return s.runReads(gctx) })
			g.Go(func() error { return s.api.Run(gctx) })
		}
		if s.manager != nil {
			// The retention job runs with the full service (etl run, etl
			// demo), not in the embedded or test configurations.
			g.Go(func() error { return runRetention(gctx, s.cfg, s.pool, s.metrics, s.log) })
		}
		if fn != nil {
			g.Go(func() error { return fn(gctx) })
		}
		return g.Wait()
	})
}

// Supervisor returns the collector manager (nil WithoutSupervisor): seed
// it and apply changes with its Reconcile.
func (s *Service) Supervisor() *supervisor.Manager { return s.manager }

// Writer returns the store writer.
func (s *Service) Writer() *store.Writer { return s.writer }

// Spool returns the durable spool in front of the writer, or nil when
// SPOOL_DIR is empty.
func (s *Service) Spool() *spool.Buffer { return s.buffer }

// Publisher returns the Redis publisher, or nil when REDIS_ENABLED=false.
func (s *Service) Publisher() *pubsub.Publisher { return s.pub }

// Pipeline returns the live records' pipeline: validation, then the
// store and the live feed.
func (s *Service) Pipeline() *pipeline.Pipeline { return s.pipe }

// Filler returns the gap filler, or nil WithoutBackfill.
func (s *Service) Filler() *backfill.Filler {
	if s.backfill == nil {
		return nil
	}
	return s.backfill.filler
}

// BackfillPipeline returns the pipeline of backfilled records (the same
// validation and store, no live feed), or nil WithoutBackfill.
func (s *Service) BackfillPipeline() *pipeline.Pipeline {
	if s.backfill == nil {
		return nil
	}
	return s.backfill.sink
}

// Metrics returns the registry the service's metrics are gathered from.
func (s *Service) Metrics() prometheus.Gatherer { return s.metrics }

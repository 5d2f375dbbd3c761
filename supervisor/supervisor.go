// Package supervisor keeps marketetl's collectors running for months without
// a human: it starts each enabled collector, checks its health on a period,
// restarts it with a per-collector exponential backoff when it is silent or
// broken, marks it failed after too many consecutive failed restarts (and
// still retries it on a long interval), records health history in the
// database, and lets operators add, remove, enable, disable and restart
// collectors while the service runs, through the Manager's methods and the
// admin HTTP API.
//
// The Manager owns one loop per enabled collector (the shape of Prometheus'
// scrape manager); a loop owns one run of its collector at a time. A
// collector is known only through the small Runner interface, built by a
// Factory that the command wires with every concrete exchange. Failure state
// is kept per collector, so one flapping exchange never delays the others.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"marketetl/collector"
	"marketetl/spec"
	"marketetl/store"
)

// Runner is one run of a collector, as the supervisor sees it.
// *collector.Collector implements it.
type Runner interface {
	// Run collects until ctx ends and then returns nil, once everything it
	// started has stopped. It returns an error when the collector failed;
	// an error wrapping collector.ErrPermanent means that restarting cannot
	// help (bad configuration), and the supervisor then does not restart it.
	// Run is called at most once per Runner.
	Run(ctx context.Context) error
	// Status returns a snapshot of the collector's health and counters. It
	// is called from other goroutines while Run runs (and after it
	// returned) and must not block on I/O.
	Status() collector.Status
}

var _ Runner = (*collector.Collector)(nil)

// Factory builds a fresh Runner for spec. It is called for every start and
// restart of a collector, so that a restarted collector starts from a clean
// state; it must not block on I/O. An error wrapping collector.ErrPermanent
// marks the collector failed without automatic retries; any other error is
// counted as a failed start and retried with backoff.
type Factory func(spec spec.Collector) (Runner, error)

// Registry keeps the collectors' configuration and enabled state, so that
// a runtime change survives a restart of the service. *store.Registry
// implements it.
type Registry interface {
	// Collectors returns every stored collector, each with Enabled set.
	Collectors(ctx context.Context) ([]spec.Collector, error)
	// PutCollector inserts spec or replaces the stored collector of the
	// same name. spec.Enabled is set.
	PutCollector(ctx context.Context, spec spec.Collector) error
	// DeleteCollector deletes the named collector; deleting one that is not
	// stored is not an error.
	DeleteCollector(ctx context.Context, name string) error
}

var _ Registry = (*store.Registry)(nil)

// History keeps the collectors' health history (table collector_status).
// *store.StatusLog implements it.
type History interface {
	// InsertStatus stores one round of rows in one statement.
	InsertStatus(ctx context.Context, rows []store.CollectorStatus) error
	// DeleteStatusBefore deletes rows older than before and returns how
	// many it deleted.
	DeleteStatusBefore(ctx context.Context, before time.Time) (int64, error)
}

var _ History = (*store.StatusLog)(nil)

// Errors returned by the Manager's operations, matched with errors.Is.
var (
	// ErrNotFound: no collector has that name.
	ErrNotFound = errors.New("collector not found")
	// ErrExists: a collector of that name already exists.
	ErrExists = errors.New("collector already exists")
	// ErrDisabled: the operation needs an enabled collector.
	ErrDisabled = errors.New("collector is disabled")
	// ErrInvalidSpec: the collector configuration is not valid; the error
	// says what to fix.
	ErrInvalidSpec = errors.New("invalid collector configuration")
	// ErrStopped: the manager is not running: Run has not started yet
	// (for operations that need running collectors) or has returned.
	ErrStopped = errors.New("supervisor not running")
)

// Config configures a Manager. Zero values take the defaults documented on
// each field; the environment variable that the command reads for a field
// is named in its comment.
type Config struct {
	// Name names the service in the status report. Default "marketetl".
	Name string
	// HealthCheckInterval is how often each collector's health is checked
	// (a collector's health_check_interval overrides it) and how often a
	// history row per collector is written. DEFAULT_HEALTH_CHECK_INTERVAL,
	// default 30s.
	HealthCheckInterval time.Duration
	// GlobalHealthCheckInterval is how often the check across all
	// collectors runs. GLOBAL_HEALTH_CHECK_INTERVAL, default 60s.
	GlobalHealthCheckInterval time.Duration
	// MaxSilence is how long a stream may go without data before it is
	// stale (a collector's max_silence_duration and max_silence_by_type
	// override it). MAX_SILENCE_DURATION, default 300s.
	MaxSilence time.Duration
	// HeartbeatTimeout is how long a collector may read no frame at all
	// (data, pong, heartbeat), or stay not connected, before it is
	// unhealthy. HEARTBEAT_TIMEOUT, default 90s.
	HeartbeatTimeout time.Duration
	// MaxErrorsPerMinute is the error rate above which a collector is
	// reported unhealthy; when the rate stays above it for
	// ErrorRateWindow, the collector is restarted like a stale one.
	// MAX_ERRORS_PER_MINUTE, default 60.
	MaxErrorsPerMinute float64
	// ErrorRateWindow is how long the error rate must stay above
	// MaxErrorsPerMinute, at every health check, before the collector is
	// restarted. Default 1m.
	ErrorRateWindow time.Duration
	// ReconnectDelay is the first restart delay; it doubles with each
	// consecutive failure. RECONNECT_DELAY, default 5s.
	ReconnectDelay time.Duration
	// ReconnectDelayMax caps the restart delay. RECONNECT_DELAY_MAX,
	// default 5m.
	ReconnectDelayMax time.Duration
	// Jitter spreads each restart delay uniformly over ±Jitter of it (then
	// capped by ReconnectDelayMax). Default 0.2; must be in [0, 1).
	Jitter float64
	// MaxReconnectAttempts is how many consecutive restarts may fail before
	// the collector is marked failed. MAX_RECONNECT_ATTEMPTS, default 5.
	MaxReconnectAttempts int
	// FailureDecay is how long a run must last for the failure count to
	// start afresh. FAILURE_DECAY, default 10m.
	FailureDecay time.Duration
	// FailedRetryInterval is how often a failed collector is tried again.
	// FAILED_RETRY_INTERVAL, default 10m.
	FailedRetryInterval time.Duration
	// StopTimeout bounds how long a stopping collector may take; one that
	// takes longer is reported as hung. COLLECTOR_STOP_TIMEOUT, default 10s.
	StopTimeout time.Duration
	// ShutdownTimeout bounds Run's shutdown after its context ended:
	// stopping every collector, the last history round and waiting for
	// hung collectors. The command derives it from SHUTDOWN_TIMEOUT.
	// Default 20s; it must exceed StopTimeout.
	ShutdownTimeout time.Duration
	// StatusRetention is how long history rows are kept.
	// STATUS_RETENTION, default 720h (30 days).
	StatusRetention time.Duration
	// RetentionInterval is how often rows older than StatusRetention are
	// deleted. Default 1h.
	RetentionInterval time.Duration
	// Secrets are values that must never appear in logs, status, history or
	// metrics (passwords, tokens); each is replaced by [REDACTED] in every
	// error text the supervisor reports. Passwords in URLs are redacted
	// without being listed.
	Secrets []string
	// Registerer receives the supervisor's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Log receives the supervisor's logs; default a no-op logger.
	Log *zap.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Rand returns a float in [0,1) for jitter; default math/rand/v2.
	Rand func() float64
}

// Defaults of Config.
const (
	DefaultName                      = "marketetl"
	DefaultHealthCheckInterval       = 30 * time.Second
	DefaultGlobalHealthCheckInterval = 60 * time.Second
	DefaultMaxSilence                = 300 * time.Second
	DefaultHeartbeatTimeout          = 90 * time.Second
	DefaultMaxErrorsPerMinute        = 60
	DefaultErrorRateWindow           = time.Minute
	DefaultReconnectDelay            = 5 * time.Second
	DefaultReconnectDelayMax         = 5 * time.Minute
	DefaultJitter                    = 0.2
	DefaultMaxReconnectAttempts      = 5
	DefaultFailureDecay              = 10 * time.Minute
	DefaultFailedRetryInterval       = 10 * time.Minute
	DefaultStopTimeout               = 10 * time.Second
	DefaultShutdownTimeout           = 20 * time.Second
	DefaultStatusRetention           = 30 * 24 * time.Hour
	DefaultRetentionInterval         = time.Hour
)

func (cfg *Config) applyDefaults() {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	setDur(&cfg.HealthCheckInterval, DefaultHealthCheckInterval)
	setDur(&cfg.GlobalHealthCheckInterval, DefaultGlobalHealthCheckInterval)
	setDur(&cfg.MaxSilence, DefaultMaxSilence)
	setDur(&cfg.HeartbeatTimeout, DefaultHeartbeatTimeout)
	setDur(&cfg.ReconnectDelay, DefaultReconnectDelay)
	setDur(&cfg.ReconnectDelayMax, DefaultReconnectDelayMax)
	setDur(&cfg.FailureDecay, DefaultFailureDecay)
	setDur(&cfg.FailedRetryInterval, DefaultFailedRetryInterval)
	setDur(&cfg.StopTimeout, DefaultStopTimeout)
	setDur(&cfg.ErrorRateWindow, DefaultErrorRateWindow)
	setDur(&cfg.ShutdownTimeout, DefaultShutdownTimeout)
	setDur(&cfg.StatusRetention, DefaultStatusRetention)
	setDur(&cfg.RetentionInterval, DefaultRetentionInterval)
	if cfg.MaxErrorsPerMinute == 0 {
		cfg.MaxErrorsPerMinute = DefaultMaxErrorsPerMinute
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = DefaultJitter
	}
	if cfg.MaxReconnectAttempts == 0 {
		cfg.MaxReconnectAttempts = DefaultMaxReconnectAttempts
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
}

// validate reports every setting that is out of range, naming its
// environment variable.
func (cfg *Config) validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: %s is negative; want a positive duration", name, d))
		}
	}
	positive("DEFAULT_HEALTH_CHECK_INTERVAL", cfg.HealthCheckInterval)
	positive("GLOBAL_HEALTH_CHECK_INTERVAL", cfg.GlobalHealthCheckInterval)
	positive("MAX_SILENCE_DURATION", cfg.MaxSilence)
	positive("HEARTBEAT_TIMEOUT", cfg.HeartbeatTimeout)
	positive("RECONNECT_DELAY", cfg.ReconnectDelay)
	positive("RECONNECT_DELAY_MAX", cfg.ReconnectDelayMax)
	positive("FAILURE_DECAY", cfg.FailureDecay)
	positive("FAILED_RETRY_INTERVAL", cfg.FailedRetryInterval)
	positive("COLLECTOR_STOP_TIMEOUT", cfg.StopTimeout)
	positive("supervisor shutdown timeout", cfg.ShutdownTimeout)
	positive("STATUS_RETENTION", cfg.StatusRetention)
	positive("retention interval", cfg.RetentionInterval)
	if cfg.ReconnectDelayMax < cfg.ReconnectDelay {
		errs = append(errs, fmt.Errorf("RECONNECT_DELAY_MAX: %s is below RECONNECT_DELAY %s", cfg.ReconnectDelayMax, cfg.ReconnectDelay))
	}
	if cfg.ShutdownTimeout <= cfg.StopTimeout {
		errs = append(errs, fmt.Errorf("supervisor shutdown timeout %s must exceed COLLECTOR_STOP_TIMEOUT %s: raise SHUTDOWN_TIMEOUT or lower COLLECTOR_STOP_TIMEOUT", cfg.ShutdownTimeout, cfg.StopTimeout))
	}
	if cfg.MaxErrorsPerMinute < 0 {
		errs = append(errs, fmt.Errorf("MAX_ERRORS_PER_MINUTE: %v is negative", cfg.MaxErrorsPerMinute))
	}
	if cfg.Jitter < 0 || cfg.Jitter >= 1 {
		errs = append(errs, fmt.Errorf("jitter: %v is outside [0, 1)", cfg.Jitter))
	}
	if cfg.MaxReconnectAttempts < 0 {
		errs = append(errs, fmt.Errorf("MAX_RECONNECT_ATTEMPTS: %d is negative", cfg.MaxReconnectAttempts))
	}
	return errors.Join(errs...)
}

package pubsub

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"marketetl/market"
)

// State is the publisher's connection state, as reported in Status.
type State string

// The states of a Publisher. It is Connecting until Run first reaches
// Redis, Connected while batches go through, Down from a failed batch or
// connection attempt until Redis answers again, and Stopped once Run has
// returned.
const (
	StateConnecting State = "connecting"
	StateConnected  State = "connected"
	StateDown       State = "down"
	StateStopped    State = "stopped"
)

// DropReason says why a record was not published.
type DropReason string

// The reasons a record is dropped.
const (
	// DropQueueFull: Publish found the queue full (Redis too slow or stalled).
	DropQueueFull DropReason = "queue_full"
	// DropRedisDown: Redis was known to be unreachable, so the record was
	// not sent.
	DropRedisDown DropReason = "redis_down"
	// DropError: the record was sent but Redis or the network failed its
	// command (error reply, broken connection, timeout). The message may
	// still have reached subscribers if the connection broke after Redis
	// ran the command.
	DropError DropReason = "error"
	// DropShutdown: still queued when the final flush's time ran out, or
	// offered after Run returned.
	DropShutdown DropReason = "shutdown"
)

// DropReasons lists every DropReason in a stable order.
func DropReasons() []DropReason {
	return []DropReason{DropQueueFull, DropRedisDown, DropError, DropShutdown}
}

// Status is a snapshot of a Publisher's health and counters, safe to keep.
// Once Run has returned, Offered == Published + the sum of Dropped exactly.
type Status struct {
	State State
	// Connected is State == StateConnected.
	Connected bool
	// Since is when State last changed.
	Since time.Time
	// LastError is the latest Redis error's text, never containing the
	// password, and LastErrorTime its time.
	LastError     string
	LastErrorTime time.Time
	// Offered counts records passed to Publish.
	Offered uint64
	// Published counts records whose PUBLISH Redis acknowledged.
	Published uint64
	// Dropped counts records not published, by reason.
	Dropped map[DropReason]uint64
	// Pending is Offered minus Published minus Dropped: queued or in flight.
	Pending uint64
	// Batches counts pipelines sent.
	Batches uint64
	// Streamed counts XADDs acknowledged and StreamErrors those that failed
	// (stream option only). A failed XADD does not drop the record's
	// PUBLISH.
	Streamed     uint64
	StreamErrors uint64
	// Sanitised counts records published under a sanitised channel name.
	Sanitised uint64
	// Reconnects counts recoveries after Redis was down.
	Reconnects uint64
}

// Publisher publishes accepted records on Redis pub/sub. Publish is safe for
// concurrent use and never blocks; Run sends.
type Publisher struct {
	cfg Config
	log *zap.Logger
	// opts are the connection settings parsed from the URL.
	opts *redis.Options
	// secret is the URL's password, scrubbed from error texts.
	secret string
	queue  chan market.Record

	// intake guards stopped: Publish holds it shared while it enqueues, Run
	// takes it exclusively to stop the intake, so nothing is enqueued after
	// Run's last drain.
	intake  sync.RWMutex
	stopped bool

	running atomic.Bool
	state   atomic.Value // State

	offered, published, batches atomic.Uint64
	streamed, streamErrors      atomic.Uint64
	sanitised, reconnects       atomic.Uint64
	dropped                     [numDropReasons]atomic.Uint64 // by DropReason.index

	mu          sync.Mutex // guards since, lastErr, lastErrTime
	since       time.Time
	lastErr     string
	lastErrTime time.Time
}

// numDropReasons is the length of DropReasons().
const numDropReasons = 4

// index returns r's place in DropReasons() and Publisher.dropped.
func (r DropReason) index() int {
	switch r {
	case DropQueueFull:
		return 0
	case DropRedisDown:
		return 1
	case DropError:
		return 2
	case DropShutdown:
		return 3
	}
	panic("pubsub: unknown drop reason " + string(r))
}

// New checks cfg, applies its defaults and returns a Publisher. It does not
// contact Redis: a server that is down at startup is not an error (Status
// says so once Run has tried). A URL that does not parse is an error naming
// REDIS_URL, with the password redacted. log may be nil.
func New(cfg Config, log *zap.Logger) (*Publisher, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("redis publisher: %w", err)
	}
	opts, err := redisOptions(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis publisher: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	p := &Publisher{
		cfg:    cfg,
		log:    log.With(zap.String("redis", RedactURL(cfg.URL))),
		opts:   opts,
		secret: opts.Password,
		queue:  make(chan market.Record, cfg.QueueSize),
		since:  time.Now(),
	}
	p.state.Store(StateConnecting)
	return p, nil
}

// Publish offers rec to the live feed and returns at once. The record is
// queued for the sending goroutine, or dropped and counted when the queue
// is full, Redis is down or the Publisher has stopped. rec must not be
// modified afterwards. A nil rec is ignored, and so is a
// *market.BookUpdate: single level changes are stored, while the book
// channel carries the book itself (*market.BookSnapshot). Safe for
// concurrent use.
func (p *Publisher) Publish(rec market.Record) {
	if rec == nil {
		return
	}
	if _, ok := rec.(*market.BookUpdate); ok {
		return
	}
	p.intake.RLock()
	defer p.intake.RUnlock()
	p.offered.Add(1)
	if p.stopped {
		p.drop(DropShutdown, 1)
		return
	}
	if p.currentState() == StateDown {
		p.drop(DropRedisDown, 1)
		return
	}
	select {
	case p.queue <- rec:
	default:
		p.drop(DropQueueFull, 1)
	}
}

// Status returns a snapshot of the publisher's state and counters. It does
// not block the sender.
func (p *Publisher) Status() Status {
	p.mu.Lock()
	s := Status{Since: p.since, LastError: p.lastErr, LastErrorTime: p.lastErrTime}
	p.mu.Unlock()
	s.State = p.currentState()
	s.Connected = s.State == StateConnected
	// Read the outcomes before the offers so that Pending never underflows.
	s.Published = p.published.Load()
	s.Dropped = make(map[DropReason]uint64, numDropReasons)
	var dropped uint64
	for _, r := range DropReasons() {
		n := p.dropped[r.index()].Load()
		s.Dropped[r] = n
		dropped += n
	}
	s.Offered = p.offered.Load()
	s.Pending = s.Offered - s.Published - dropped
	s.Batches = p.batches.Load()
	s.Streamed = p.streamed.Load()
	s.StreamErrors = p.streamErrors.Load()
	s.Sanitised = p.sanitised.Load()
	s.Reconnects = p.reconnects.Load()
	return s
}

func (p *Publisher) drop(r DropReason, n int) {
	if n > 0 {
		p.dropped[r.index()].Add(uint64(n))
	}
}

func (p *Publisher) currentState() State { return p.state.Load().(State) }

// setState records a new state; it reports whether the state changed.
func (p *Publisher) setState(s State) bool {
	if p.state.Swap(s).(State) == s {
		return false
	}
	p.mu.Lock()
	p.since = time.Now()
	p.mu.Unlock()
	return true
}

// noteError records err as the last error, with the password scrubbed, and
// returns the text recorded.
func (p *Publisher) noteError(err error) string {
	text := err.Error()
	if p.secret != "" {
		text = strings.ReplaceAll(text, p.secret, "xxxxx")
	}
	p.mu.Lock()
	p.lastErr, p.lastErrTime = text, time.Now()
	p.mu.Unlock()
	return text
}

package pubsub

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultURL is the Redis server used when Config.URL is empty.
const DefaultURL = "redis://127.0.0.1:6379/0"

// DefaultClientName names the publisher's Redis connections (CLIENT LIST
// shows it), so that an operator can find them.
const DefaultClientName = "marketetl-publisher"

// Config configures a Publisher. Zero values take the documented defaults.
type Config struct {
	// URL is the Redis server (REDIS_URL): redis://[user:password@]host:port/db,
	// rediss:// for TLS, or unix:///path. Default DefaultURL. The password is
	// never logged nor reported. The URL's query options are accepted, but
	// the publisher uses only the address, user, password, database and TLS
	// settings: it sets the client name and timeouts itself and keeps one
	// connection.
	URL string
	// ChannelPrefix is the first part of every channel name
	// (REDIS_CHANNEL_PREFIX). Default "md". Letters, digits, '-', '_', '.'
	// and inner ':' only.
	ChannelPrefix string
	// BatchSize is the most records sent in one pipeline. Default 500. At
	// most 4 pipelines await their replies at a time.
	BatchSize int
	// FlushInterval, when > 0, is how long the writer waits at most for a
	// pipeline to fill up to BatchSize before sending it: fewer, bigger
	// writes for more latency. Default 0: a pipeline is sent as soon as the
	// writer is free, with what is queued then (pipelines still in flight
	// make the queue, and so the next pipeline, grow under load).
	FlushInterval time.Duration
	// QueueSize is how many records wait for Redis at most; beyond, Publish
	// drops them (reason queue_full). Default 100000.
	QueueSize int
	// StreamMaxLen, when > 0, also appends every record to the stream
	// <prefix>:stream:<exchange>:<type>:<symbol>, trimmed to about this many
	// entries (XADD MAXLEN ~). Default 0: no streams.
	StreamMaxLen int64
	// ClientName names the connections (CLIENT SETNAME). Default
	// DefaultClientName.
	ClientName string
	// DialTimeout bounds connecting to Redis. Default 2s.
	DialTimeout time.Duration
	// IOTimeout bounds writing one pipeline, and the wait for its replies
	// once they are the next due: replies later than that mean the
	// connection is broken (its records in flight fail, Redis is down until
	// a new connection answers). It also bounds the handshake (AUTH,
	// SELECT, CLIENT SETNAME). Default 2s.
	IOTimeout time.Duration
	// RetryMin and RetryMax bound the jittered, doubling wait between
	// attempts to reach Redis while it is down. Defaults 100ms and 5s.
	RetryMin time.Duration
	RetryMax time.Duration
	// ShutdownTimeout bounds the final flush of what is queued when Run's
	// context ends. Default 1s.
	ShutdownTimeout time.Duration
	// OnPublish, if set, is called by the goroutine that reads Redis's
	// replies (one call at a time) after each batch that published at least
	// one record, with the number published and the oldest receipt time
	// (market.Meta.Received) among them. It must be quick: it delays the
	// next batch's outcome.
	OnPublish func(n int, oldestReceived time.Time)
	// OnPublishReceived, if set, is called by the goroutine that reads
	// Redis's replies (one call at a time) after each batch that published
	// at least one record, with the receipt time (market.Meta.Received) of
	// every record published, for per-record latency measurements. The
	// slice is reused after the call returns. It must be quick: it delays
	// the next batch's outcome.
	OnPublishReceived func(received []time.Time)
	// Metrics, when set, measures each published record's latency from
	// its receipt to Redis's reply (etl_redis_publish_latency_seconds).
	Metrics *Metrics
}

// withDefaults returns cfg with every zero value replaced by its default:
// the one place defaults are applied.
func (cfg Config) withDefaults() Config {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.ChannelPrefix == "" {
		cfg.ChannelPrefix = DefaultChannelPrefix
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 500
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 100_000
	}
	if cfg.ClientName == "" {
		cfg.ClientName = DefaultClientName
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.IOTimeout == 0 {
		cfg.IOTimeout = 2 * time.Second
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = 100 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 5 * time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = time.Second
	}
	return cfg
}

// validate reports what to fix in a defaulted cfg.
func (cfg Config) validate() error {
	var errs []error
	if !validPrefix(cfg.ChannelPrefix) {
		errs = append(errs, fmt.Errorf("REDIS_CHANNEL_PREFIX %q: use letters, digits, '-', '_', '.' and inner ':' only", cfg.ChannelPrefix))
	}
	if cfg.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("batch size %d: want at least 1", cfg.BatchSize))
	}
	if cfg.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("queue size %d: want at least 1", cfg.QueueSize))
	}
	if cfg.StreamMaxLen < 0 {
		errs = append(errs, fmt.Errorf("REDIS_STREAM_MAXLEN %d: want 0 (off) or more", cfg.StreamMaxLen))
	}
	if strings.ContainsFunc(cfg.ClientName, func(r rune) bool { return r <= ' ' || r > '~' }) {
		errs = append(errs, fmt.Errorf("client name %q: no spaces or special characters", cfg.ClientName))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"flush interval", cfg.FlushInterval}, {"dial timeout", cfg.DialTimeout}, {"I/O timeout", cfg.IOTimeout},
		{"minimum retry delay", cfg.RetryMin}, {"maximum retry delay", cfg.RetryMax},
		{"shutdown timeout", cfg.ShutdownTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s: want a positive duration", d.name, d.v))
		}
	}
	if cfg.RetryMax < cfg.RetryMin {
		errs = append(errs, fmt.Errorf("maximum retry delay %s is below the minimum %s", cfg.RetryMax, cfg.RetryMin))
	}
	return errors.Join(errs...)
}

// redisOptions parses rawURL (REDIS_URL) into client options. Its errors
// name REDIS_URL and show the URL with the password redacted.
func redisOptions(rawURL string) (*redis.Options, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// url.Parse's errors quote the whole URL, password included: keep
		// only the reason.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("REDIS_URL %s: %w (want redis://[user:password@]host:port/db, rediss:// for TLS or unix:///path)", RedactURL(rawURL), err)
	}
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opts, nil
}

// RedactURL returns rawURL with its password, if any, replaced by "xxxxx",
// for messages and logs. A URL that does not parse is reduced to its
// scheme with everything between "://" and the last '@' hidden.
func RedactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		if strings.Contains(rawURL, "@") {
			return "(unparsable URL, not shown)"
		}
		return rawURL
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = "xxxxx" + rest[at:]
	}
	return scheme + "://" + rest
}

package collector

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"marketetl/backoff"
	"marketetl/market"
)

// ErrDialsExhausted is wrapped by the error Run returns when a connection
// failed to dial more than Config.MaxDialFailures times in a row.
var ErrDialsExhausted = errors.New("consecutive failed dials exceed the limit")

// dialError is a session that ended because the dial failed.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// connLoop keeps the connection planned under key alive until ctx ends or
// the key leaves the plan. It dials, runs a session, and after a failure
// waits an exponentially growing, jittered delay before the next dial. When
// the protocol declares a MaxLifetime, or when the exchange announces that
// it will close the connection, a replacement connection is dialled before
// the exchange cuts the current one, and the current one is closed once
// the replacement delivers (both are deduplicated meanwhile). When the
// connection is lost, its streams are marked unsubscribed until the new
// connection's acknowledgements.
// It returns an error for a permanent failure, and one wrapping
// ErrDialsExhausted when more than Config.MaxDialFailures redials in a row
// failed to connect.
func (c *Collector) connLoop(ctx context.Context, key string, updates <-chan struct{}) error {
	log := c.log.With(zap.String("conn", key))
	attempt := 0
	dialFailures := 0
	var lastLogged time.Time
	for {
		plan, ok := c.plan(key)
		if !ok {
			return nil
		}
		start := c.cfg.Now()
		err := c.beforeDial(ctx)
		if err == nil {
			err = c.runWithRollover(ctx, key, plan, updates)
		}
		// Trades may be missed from now until the next session delivers:
		// the candles built meanwhile are provisional.
		c.route.aggregators().interrupt()
		if ctx.Err() != nil {
			return nil
		}
		c.unsubscribed(key, plan)
		c.st.connDown(key)
		var refused *RefusedError
		if errors.As(err, &refused) {
			log.Error("the exchange refused the credentials; stopping the collector", zap.Error(err))
			return err
		}
		if errors.Is(err, ErrPermanent) {
			log.Error("connection failed permanently; not redialling", zap.Error(err))
			return err
		}
		c.st.recordError(err, c.cfg.Now())
		if de := (*dialError)(nil); errors.As(err, &de) {
			dialFailures++
			if c.cfg.MaxDialFailures > 0 && dialFailures > c.cfg.MaxDialFailures {
				log.Error("connection cannot be dialled; giving up to the supervisor", zap.Error(err), zap.Int("failed_dials", dialFailures))
				return fmt.Errorf("connection %s: %d dials failed in a row: %w: %w", key, dialFailures, ErrDialsExhausted, err)
			}
		} else {
			dialFailures = 0
		}
		if c.cfg.Now().Sub(start) >= c.cfg.HealthyAfter {
			attempt = 0
		}
		delay := c.backoff(attempt)
		attempt++
		// Log the first failures, then at most once a minute: a closed
		// endpoint must not flood the log.
		if attempt <= 3 || c.cfg.Now().Sub(lastLogged) >= time.Minute {
			log.Warn("connection lost; reconnecting", zap.Error(err), zap.Int("attempt", attempt), zap.Duration("backoff", delay))
			lastLogged = c.cfg.Now()
		}
		c.st.setConnState(key, StateReconnecting)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		c.st.reconnect()
	}
}

// backoff returns the delay before redial number attempt (0-based): BackoffMin
// doubled attempt times, capped at BackoffMax, jittered to [d/2, d].
func (c *Collector) backoff(attempt int) time.Duration {
	return backoff.Policy{
		Min: c.cfg.BackoffMin, Max: c.cfg.BackoffMax,
		Jitter: backoff.Jitter{Below: 0.5}, Rand: c.cfg.Rand,
	}.Delay(attempt)
}

// unsubscribed marks the streams of the connection key (its latest plan,
// else plan) unsubscribed: the connection carrying them is gone.
func (c *Collector) unsubscribed(key string, plan ConnPlan) {
	if p, ok := c.plan(key); ok {
		plan = p
	}
	c.st.unsubscribed(plan.Streams)
}

// runWithRollover runs one session and, when the protocol limits a
// connection's lifetime or the exchange announces a disconnect (the
// session signals rollover for both), hands over to a replacement session
// before the exchange closes the current one. It returns when the session
// in charge ends.
func (c *Collector) runWithRollover(ctx context.Context, key string, plan ConnPlan, updates <-chan struct{}) error {
	type run struct {
		cancel   context.CancelFunc
		done     chan error
		rollover chan struct{}
		ready    chan struct{}
	}
	start := func(p ConnPlan) *run {
		sctx, cancel := context.WithCancel(ctx)
		r := &run{cancel: cancel, done: make(chan error, 1), rollover: make(chan struct{}, 1), ready: make(chan struct{})}
		go func() { r.done <- c.session(sctx, key, p, updates, r.rollover, r.ready) }()
		return r
	}
	cur := start(plan)
	var next *run
	var retry *time.Timer // re-asks for a replacement after one failed
	defer func() {
		if retry != nil {
			retry.Stop()
		}
		for _, r := range []*run{cur, next} {
			if r != nil {
				r.cancel()
				<-r.done
			}
		}
	}()
	beginReplacement := func() {
		if next != nil {
			return
		}
		p, ok := c.plan(key)
		if !ok {
			p = plan
		}
		c.log.Info("dialling a replacement before the exchange closes the connection", zap.String("conn", key))
		next = start(p)
	}
	for {
		var nextDone <-chan error
		var nextReady <-chan struct{}
		var retryC <-chan time.Time
		if next != nil {
			nextDone, nextReady = next.done, next.ready
		}
		if retry != nil {
			retryC = retry.C
		}
		select {
		case err := <-cur.done:
			cur.done <- err // keep it for the deferred drain
			if next == nil {
				return err
			}
			c.log.Info("connection ended during rollover; replacement takes over", zap.String("conn", key), zap.Error(err))
			select {
			case <-next.ready:
			default:
				// The replacement has read nothing yet, so none of its
				// acknowledgements: its streams wait for them.
				c.unsubscribed(key, plan)
			}
			cur, next = next, nil
		case <-cur.rollover:
			beginReplacement()
		case <-retryC:
			retry = nil
			beginReplacement()
		case <-nextReady:
			c.log.Info("replacement connection delivers; closing the old one", zap.String("conn", key))
			cur.cancel()
			<-cur.done
			cur, next = next, nil
		case err := <-nextDone:
			c.log.Warn("replacement connection failed; keeping the current one", zap.String("conn", key), zap.Error(err))
			next = nil
			retry = time.NewTimer(c.backoff(1))
		}
	}
}

// redactURL strips credentials and query strings from u for logs and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	q := u.RawQuery
	u.RawQuery = ""
	s := u.String()
	if q != "" {
		s += fmt.Sprintf("?…(%d bytes)", len(q))
	}
	return s
}

// Limits are an exchange's documented limits on connections and
// subscriptions, which the collector keeps to. A Protocol declares them by
// implementing SubscriptionLimits; without it nothing is split or paced
// beyond KeepAlive.MaxSendPerSecond.
type Limits struct {
	// StreamsPerConn is the most streams one connection may carry (Binance:
	// 1024). A planned connection with more is split by the collector into
	// as many connections as needed, a symbol's streams kept together
	// whenever they fit on one. 0: no limit.
	StreamsPerConn int
	// Dials paces the connection attempts (first dials, redials and
	// rollover replacements) of every collector of the exchange in the
	// process together, when they share one DialPacer (Config.Dials; the
	// service builds one per exchange), else of one collector's
	// connections: the exchange's limit on connections per IP (OKX: 3
	// per second). Zero: unpaced.
	Dials Pace
	// Requests paces the subscribe and unsubscribe frames of one
	// connection (OKX: 480 subscribe, unsubscribe and login requests per
	// connection per hour). Zero: unpaced beyond MaxSendPerSecond.
	Requests Pace
}

// Pace is a token bucket: at most Burst events at once, refilled at
// PerSecond. In any window of t seconds it lets through at most
// Burst + PerSecond·t events, which is how a limit "n per period" is kept:
// Burst + PerSecond·period ≤ n.
type Pace struct {
	PerSecond float64
	Burst     int
}

// limiter returns the rate limiter of p, or nil when p is zero (unpaced).
func (p Pace) limiter() *rate.Limiter {
	if p.PerSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(p.PerSecond), max(1, p.Burst))
}

// SubscriptionLimits is implemented by a Protocol whose exchange documents
// limits on subscriptions per connection or on the rate of connections or
// subscribe requests.
type SubscriptionLimits interface {
	Limits() Limits
}

// pacing holds a collector's limits.
type pacing struct {
	limits Limits
}

// newPacing returns the pacing that proto declares.
func newPacing(proto Protocol) pacing {
	return pacing{limits: LimitsOf(proto)}
}

// LimitsOf returns the limits proto declares (SubscriptionLimits), zero
// when it declares none.
func LimitsOf(proto Protocol) Limits {
	sl, ok := proto.(SubscriptionLimits)
	if !ok {
		return Limits{}
	}
	return sl.Limits()
}

// DialPacer paces connection attempts to one exchange: a token bucket
// shared by every collector (and every connection of each) it is given
// to, so that together they keep to the exchange's limit on connections
// per IP (Limits.Dials), whatever the number of collectors. Safe for
// concurrent use. A nil *DialPacer lets every attempt through.
type DialPacer struct {
	l *rate.Limiter
}

// NewDialPacer returns a DialPacer keeping to p, or nil (unpaced) when p
// is zero. Build one per exchange per process (see LimitsOf) and pass it
// in Config.Dials to every collector of that exchange.
func NewDialPacer(p Pace) *DialPacer {
	l := p.limiter()
	if l == nil {
		return nil
	}
	return &DialPacer{l: l}
}

// wait waits for the next connection attempt's turn, or until ctx ends.
func (d *DialPacer) wait(ctx context.Context) error {
	if d == nil {
		return nil
	}
	if err := d.l.Wait(ctx); err != nil {
		return fmt.Errorf("wait to dial: %w", err)
	}
	return nil
}

// splitConns splits every connection of byKey whose streams exceed
// perConn (0: no limit) into parts of at most perConn streams. The first
// part keeps the adapter's key; the others are keyed key#2, key#3, ....
// Each part's ConnPlan keeps the adapter's Key, so that the adapter builds
// its frames as for the whole connection. Streams are taken symbol by
// symbol, in symbol order, and a symbol's streams stay on one part unless
// they cannot fit together on any: the split depends only on the set of
// streams, and adding a symbol after the others changes the last part
// only. A candle stream in Aggregated goes with the part that carries its
// symbol. A connection whose URL carries its streams is never split (the
// adapter plans those within the limit itself).
func splitConns(byKey map[string]ConnPlan, perConn int) map[string]ConnPlan {
	if perConn <= 0 {
		return byKey
	}
	out := make(map[string]ConnPlan, len(byKey))
	for key, p := range byKey {
		if len(p.Streams) <= perConn || p.URLCarriesStreams {
			out[key] = p
			continue
		}
		for i, part := range splitStreams(p.Streams, perConn) {
			q := p
			q.Streams = part
			q.Aggregated = nil
			in := map[market.Symbol]bool{}
			for _, s := range part {
				in[s.Symbol] = true
			}
			for _, a := range p.Aggregated {
				if in[a.Symbol] {
					q.Aggregated = append(q.Aggregated, a)
				}
			}
			out[partKey(key, i)] = q
		}
	}
	return out
}

// partKey is the key of part i (0-based) of the connection key.
func partKey(key string, i int) string {
	if i == 0 {
		return key
	}
	return key + "#" + strconv.Itoa(i+1)
}

// splitStreams cuts streams into parts of at most perConn, symbol by
// symbol (see splitConns); each part is sorted.
func splitStreams(streams []market.Stream, perConn int) [][]market.Stream {
	sorted := append([]market.Stream(nil), streams...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Symbol != sorted[j].Symbol {
			return sorted[i].Symbol < sorted[j].Symbol
		}
		return sorted[i].String() < sorted[j].String()
	})
	var parts [][]market.Stream
	var cur []market.Stream
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j].Symbol == sorted[i].Symbol {
			j++
		}
		group := sorted[i:j]
		if len(cur) > 0 && len(group) <= perConn && len(cur)+len(group) > perConn {
			parts = append(parts, cur)
			cur = nil
		}
		for _, s := range group {
			if len(cur) == perConn {
				parts = append(parts, cur)
				cur = nil
			}
			cur = append(cur, s)
		}
		i = j
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	for _, p := range parts {
		sortStreams(p)
	}
	return parts
}

package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/config"
	"marketetl/credentials"
	"marketetl/market"
	"marketetl/spec"
	"marketetl/spool"
	"marketetl/store"
)

// Adapter is what one exchange package provides: the WebSocket protocol
// the collector loop speaks, and the REST history that fills gaps and
// reconciles candles.
type Adapter interface {
	collector.Protocol
	collector.History
}

// Exchange is one exchange's registry entry.
type Exchange struct {
	// New builds the adapter against ep, with hc (already within the
	// exchange's REST budget) for its REST calls. Required.
	New func(ep Endpoints, hc *http.Client) (Adapter, error)
	// Private, when set, builds the exchange's private (balance) adapter.
	Private *PrivateExchange
	// Keyed, when set, builds the market data adapter of a collector that
	// names credentials (Coinbase: order books on the authenticated level2
	// channel), against ep with hc, signing with c. Its keys are loaded as
	// Private.Need says.
	Keyed func(ep Endpoints, hc *http.Client, c credentials.Credentials) (Adapter, error)
	// Budget returns the exchange's REST budget from the configuration
	// (its documented public limits, overridable in the environment); nil
	// means no budget.
	Budget func(cfg config.Config) wire.BudgetConfig
}

// Registry maps each exchange the service can collect from to its entry.
// The service imports no exchange package: the caller builds the registry
// (package exchange holds the project's).
type Registry map[market.Exchange]Exchange

// Endpoints are the exchange URLs the adapters dial: from the environment
// (EndpointsFromConfig), the simulated exchange or the benchmark's frame
// server. The fields are those of sim.Endpoints, so that one converts.
type Endpoints struct {
	OKXPublicWS, OKXBusinessWS, OKXREST string
	BinanceWS, BinanceREST              string
	CoinbaseWS, CoinbaseREST            string
	KrakenWS, KrakenREST                string
}

// EndpointsFromConfig returns the URLs of the environment
// (OKX_WS_PUBLIC_URL and the others).
func EndpointsFromConfig(c config.Config) Endpoints {
	return Endpoints{
		OKXPublicWS: c.OKXPublicWS, OKXBusinessWS: c.OKXBusinessWS, OKXREST: c.OKXREST,
		BinanceWS: c.BinanceWS, BinanceREST: c.BinanceREST,
		CoinbaseWS: c.CoinbaseWS, CoinbaseREST: c.CoinbaseREST,
		KrakenWS: c.KrakenWS, KrakenREST: c.KrakenREST,
	}
}

// gapDetection is shared by every collector the service builds, so that a
// collector the supervisor restarts resumes gap detection where the
// previous one stopped, and the first records after a process restart are
// checked against the last stored ones.
type gapDetection struct {
	positions *collector.Positions
	resume    collector.ResumeFunc
	gaps      collector.GapRecorder
	// checks is the candle_checks table: candle reconciliation survives
	// restarts.
	checks collector.CandleChecks
}

// newGapDetection seeds positions from pool and hands gaps to gaps (nil:
// gaps are only logged and counted). With a spool, the positions are read
// only once what an earlier run left in it is committed.
func newGapDetection(pool *pgxpool.Pool, gaps collector.GapRecorder, buffer *spool.Buffer) gapDetection {
	resume := ResumeFromStore(pool)
	if buffer != nil {
		resume = afterSpoolReplay(buffer.Inherited(), resume)
	}
	return gapDetection{positions: collector.NewPositions(), resume: resume, gaps: gaps,
		checks: store.NewCandleChecks(pool)}
}

// errSpoolReplaying is the resume's answer while the spool an earlier
// run left is being replayed; the collector retries with backoff.
var errSpoolReplaying = errors.New("the records the previous run left in the spool are not all stored yet")

// afterSpoolReplay returns resume that waits (within its context) until
// replayed is closed, and fails when it is not by then: an
// earlier run's spooled records are stored then, and the last stored
// record of each stream is where that run really ended. Read before, the
// window of the spooled records would become a restart gap although
// nothing is missing (and an unfillable one where the exchange no longer
// serves that history).
func afterSpoolReplay(replayed <-chan struct{}, resume collector.ResumeFunc) collector.ResumeFunc {
	return func(ctx context.Context, streams []market.Stream) (map[market.Stream]collector.Last, error) {
		select {
		case <-replayed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", errSpoolReplaying, ctx.Err())
		}
		return resume(ctx, streams)
	}
}

// ResumeFromStore is the collectors' ResumeFunc over the database: the
// last stored record of each stream.
func ResumeFromStore(pool *pgxpool.Pool) collector.ResumeFunc {
	return func(ctx context.Context, streams []market.Stream) (map[market.Stream]collector.Last, error) {
		stored, err := store.LastStored(ctx, pool, streams)
		if err != nil {
			return nil, err
		}
		out := make(map[market.Stream]collector.Last, len(stored))
		for s, l := range stored {
			out[s] = collector.Last{Time: l.Time, TradeID: l.TradeID}
		}
		return out, nil
	}
}

// dialPacers returns one DialPacer per exchange, keeping to the dial pace
// its adapter declares (collector.Limits.Dials), shared by all the
// collectors of that exchange (market data and balances alike: the
// exchanges count connection attempts per IP); nil for an exchange that
// declares none.
func dialPacers(adapters map[market.Exchange]Adapter) map[market.Exchange]*collector.DialPacer {
	out := make(map[market.Exchange]*collector.DialPacer, len(adapters))
	for ex, a := range adapters {
		out[ex] = collector.NewDialPacer(collector.LimitsOf(a).Dials)
	}
	return out
}

// Collector builds a collector for sp, wired as the supervisor's are:
// the exchange's adapter, the pipeline as its sink, gap detection shared
// with every other collector of the service. Run it inside RunWith (or
// leave it to the supervisor).
func (s *Service) Collector(sp spec.Collector) (*collector.Collector, error) {
	api, ok := s.adapters[sp.Exchange]
	if !ok {
		return nil, fmt.Errorf("collector %s: unknown exchange %q", sp.Name, sp.Exchange)
	}
	if sp.IsBalance() {
		return s.privateCollector(sp, collector.Config{
			Name: sp.Name, Streams: sp.Streams(), ReadLimit: int64(s.cfg.ReadLimitBytes), Log: s.log, HealthyAfter: time.Minute,
			Positions: s.detect.positions, Dials: s.dials[sp.Exchange],
		})
	}
	if sp.Credentials != "" {
		keyed, err := s.keyedAdapter(sp)
		if err != nil {
			return nil, err
		}
		api = keyed
	}
	cfg := collector.Config{
		Name:         sp.Name,
		Streams:      sp.Streams(),
		ReadLimit:    int64(s.cfg.ReadLimitBytes),
		Log:          s.log,
		HealthyAfter: time.Minute,
		// Both retry layers follow RECONNECT_DELAY, RECONNECT_DELAY_MAX
		// and MAX_RECONNECT_ATTEMPTS: the collector's redials, then the
		// supervisor's restarts.
		BackoffMin: s.cfg.ReconnectDelay,
		BackoffMax: s.cfg.ReconnectDelayMax,
		History:    api,
		Positions:  s.detect.positions,
		Resume:     s.detect.resume,
		Gaps:       s.detect.gaps,
		Checks:     s.detect.checks,
		ClockSkew:  s.clocks,
		// One dial pace per exchange: the exchanges limit connection
		// attempts per IP, whatever the number of collectors.
		Dials: s.dials[sp.Exchange],
		// A candle check is finished only once the exchange's candle
		// that finished it is stored.
		Sync: s.writer.Sync,
		Books: collector.BookConfig{
			Depth:           sp.Depth(),
			Interval:        sp.BookEvery(),
			PublishInterval: sp.BookPublishEvery(),
			Updates:         sp.BookUpdates,
		},
	}
	if s.pub != nil {
		// The live book between stored snapshots (which reach the feed
		// through the pipeline).
		cfg.Books.Live = func(b *market.BookSnapshot) { s.pub.Publish(b) }
	}
	if s.opts.supervised {
		// Giving up on a connection hands the collector to the
		// supervisor's restarts; without a supervisor nothing would
		// restart it, so it redials for ever.
		cfg.MaxDialFailures = s.cfg.MaxReconnectAttempts
	}
	if s.opts.now != nil {
		cfg.Now = s.opts.now
	}
	if s.opts.collector != nil {
		s.opts.collector(&cfg)
	}
	return collector.New(cfg, api, s.pipe)
}

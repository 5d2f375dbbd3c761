package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/collector/coinbase"
	"marketetl/collector/okx"
	"marketetl/config"
	"marketetl/market"
	"marketetl/store"
)

// endpoints are the exchange URLs, from the environment or the simulator.
type exchangeURLs struct {
	OKXPublicWS, OKXBusinessWS, OKXREST string
	BinanceWS, BinanceREST              string
	CoinbaseWS, CoinbaseREST            string
}

func endpointsFromConfig(c config.Config) exchangeURLs {
	return exchangeURLs{
		OKXPublicWS: c.OKXPublicWS, OKXBusinessWS: c.OKXBusinessWS, OKXREST: c.OKXREST,
		BinanceWS: c.BinanceWS, BinanceREST: c.BinanceREST,
		CoinbaseWS: c.CoinbaseWS, CoinbaseREST: c.CoinbaseREST,
	}
}

// exchangeAPI is what one exchange package provides.
type exchangeAPI interface {
	collector.Protocol
	collector.History
}

// exchanges builds the map from exchange name to its adapter: the one place
// that knows every concrete exchange type.
func exchanges(ep exchangeURLs, httpClient *http.Client) (map[market.Exchange]exchangeAPI, error) {
	o, err := okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("okx: %w", err)
	}
	b, err := binance.New(binance.Config{WSURL: ep.BinanceWS, RESTURL: ep.BinanceREST, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("binance: %w", err)
	}
	c, err := coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("coinbase: %w", err)
	}
	return map[market.Exchange]exchangeAPI{market.OKX: o, market.Binance: b, market.Coinbase: c}, nil
}

// gapDetection is shared by every collector the factory builds, so that a
// collector the supervisor restarts resumes gap detection where the
// previous one stopped, and the first records after a process restart are
// checked against the last stored ones.
type gapDetection struct {
	positions *collector.Positions
	resume    collector.ResumeFunc
	gaps      collector.GapRecorder
	// checks and sync make candle reconciliation durable: the
	// candle_checks table, and the writer's Sync (see storedBy).
	checks collector.CandleChecks
	sync   func(ctx context.Context) error
}

// storedBy makes the collectors finish a candle check only once the
// exchange's candle that finished it is stored by w.
func (d gapDetection) storedBy(w *store.Writer) gapDetection {
	d.sync = w.Sync
	return d
}

// newGapDetection seeds positions from pool (nil: not seeded) and hands
// gaps to gaps (nil: gaps are only logged and counted).
func newGapDetection(pool *pgxpool.Pool, gaps collector.GapRecorder) gapDetection {
	d := gapDetection{positions: collector.NewPositions(), gaps: gaps}
	if pool != nil {
		d.checks = store.NewCandleChecks(pool)
		d.resume = func(ctx context.Context, streams []market.Stream) (map[market.Stream]collector.Last, error) {
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
	return d
}

// collectorFactory returns a function that builds a collector for a spec.
func collectorFactory(apis map[market.Exchange]exchangeAPI, sink collector.Sink, readLimit int64, log *zap.Logger, gd gapDetection) func(spec collector.Spec) (*collector.Collector, error) {
	return func(spec collector.Spec) (*collector.Collector, error) {
		api, ok := apis[spec.Exchange]
		if !ok {
			return nil, fmt.Errorf("collector %s: unknown exchange %q", spec.Name, spec.Exchange)
		}
		return collector.New(collector.Config{
			Name:         spec.Name,
			Streams:      spec.Streams(),
			ReadLimit:    readLimit,
			Log:          log,
			HealthyAfter: time.Minute,
			History:      api,
			Positions:    gd.positions,
			Resume:       gd.resume,
			Gaps:         gd.gaps,
			Checks:       gd.checks,
			Sync:         gd.sync,
		}, api, sink)
	}
}

// Package exchange is the registry of the exchanges marketetl collects
// from: for each, how to build its adapter (package collector/okx,
// collector/binance, collector/coinbase, collector/kraken) and its REST
// budget. It is the one place that names every concrete exchange; adding
// an exchange is one entry in Registry.
package exchange

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/collector/coinbase"
	"marketetl/collector/kraken"
	"marketetl/collector/okx"
	"marketetl/collector/wire"
	"marketetl/config"
	"marketetl/credentials"
	"marketetl/market"
	"marketetl/service"
)

// Registry returns the map from exchange to its entry, built on each call
// (no global state). The REST budgets follow the exchanges' documented
// public limits, overridable in the environment:
//   - OKX: per endpoint and IP, history-trades and history-candles "20
//     requests per 2 seconds" (candles 40/2 s, trades 100/2 s): one bucket
//     at the tightest, OKX_REST_RATE (10) per second, burst 20;
//   - Binance: "REQUEST_WEIGHT 6000 per minute" per IP, each endpoint with
//     its weight (klines 2, historicalTrades and trades 25, aggTrades 4,
//     depth 5 to 250 by its limit, the signed account 20):
//     BINANCE_REST_WEIGHT_PER_MINUTE, burst a tenth of it; a 418 is an IP
//     ban ("from 2 minutes to 3 days"), held for its Retry-After;
//   - Coinbase Exchange: public endpoints "10 requests per second, up to 15
//     in bursts" per IP: COINBASE_REST_RATE, burst 1.5 times it;
//   - Kraken: public endpoints per IP (and per pair for Trades and OHLC),
//     no number published; "a frequency of 1 per second (or less) would
//     remain within the rate limits" (support 206548367):
//     KRAKEN_REST_RATE (1) per second, burst 2. Kraken answers a rate
//     limit with HTTP 200 ("EAPI:Rate limit exceeded", "EService:
//     Throttled"), which the transport does not see: the backfill waits
//     those out, and only an HTTP 429 pauses the budget.
//
// A 429 or 418 pauses the exchange's whole budget for Retry-After or the
// default of its entry.
func Registry() service.Registry {
	return service.Registry{
		market.OKX: {
			New: func(ep service.Endpoints, hc *http.Client) (service.Adapter, error) {
				return okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST, HTTPClient: hc})
			},
			Private: &service.PrivateExchange{
				Need: credentials.Need{Passphrase: true},
				New: func(p service.PrivateParams) (collector.Protocol, error) {
					return okx.NewPrivate(okx.PrivateConfig{URL: p.Private.OKXPrivateWS, RESTURL: p.Endpoints.OKXREST, HTTPClient: p.HTTP,
						Credentials: p.Credentials, Account: p.Account, Now: p.Now})
				},
			},
			Budget: func(cfg config.Config) wire.BudgetConfig {
				return wire.BudgetConfig{Name: "okx", Rate: float64(cfg.OKXRESTRate), Burst: 2 * cfg.OKXRESTRate, PauseOn429: 2 * time.Second}
			},
		},
		market.Binance: {
			New: func(ep service.Endpoints, hc *http.Client) (service.Adapter, error) {
				return binance.New(binance.Config{WSURL: ep.BinanceWS, RESTURL: ep.BinanceREST, HTTPClient: hc})
			},
			Private: &service.PrivateExchange{
				New: func(p service.PrivateParams) (collector.Protocol, error) {
					return binance.NewPrivate(binance.PrivateConfig{URL: p.Private.BinanceWSAPI, RESTURL: p.Endpoints.BinanceREST, HTTPClient: p.HTTP,
						Credentials: p.Credentials, Account: p.Account, Now: p.Now})
				},
			},
			Budget: func(cfg config.Config) wire.BudgetConfig {
				return wire.BudgetConfig{Name: "binance", Rate: float64(cfg.BinanceRESTWeight) / 60,
					Burst: max(cfg.BinanceRESTWeight/10, 25), PauseOn429: time.Minute, PauseOn418: 2 * time.Minute, Cost: binanceWeight}
			},
		},
		market.Coinbase: {
			New: func(ep service.Endpoints, hc *http.Client) (service.Adapter, error) {
				return coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST, HTTPClient: hc})
			},
			// Order books on the authenticated level2 channel.
			Keyed: func(ep service.Endpoints, hc *http.Client, c credentials.Credentials) (service.Adapter, error) {
				return coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST, HTTPClient: hc, Credentials: c})
			},
			Private: &service.PrivateExchange{
				Need: credentials.Need{Passphrase: true},
				New: func(p service.PrivateParams) (collector.Protocol, error) {
					return coinbase.NewPrivate(coinbase.PrivateConfig{URL: p.Endpoints.CoinbaseWS, RESTURL: p.Endpoints.CoinbaseREST, HTTPClient: p.HTTP,
						Credentials: p.Credentials, Account: p.Account, Now: p.Now})
				},
			},
			Budget: func(cfg config.Config) wire.BudgetConfig {
				return wire.BudgetConfig{Name: "coinbase", Rate: float64(cfg.CoinbaseRESTRate),
					Burst: max(cfg.CoinbaseRESTRate*3/2, 1), PauseOn429: time.Second}
			},
		},
		market.Kraken: {
			New: func(ep service.Endpoints, hc *http.Client) (service.Adapter, error) {
				return kraken.New(kraken.Config{WSURL: ep.KrakenWS, RESTURL: ep.KrakenREST, HTTPClient: hc})
			},
			Budget: func(cfg config.Config) wire.BudgetConfig {
				return wire.BudgetConfig{Name: "kraken", Rate: float64(cfg.KrakenRESTRate), Burst: 2, PauseOn429: 2 * time.Second}
			},
		},
	}
}

// binanceWeight is a Binance request's documented weight (1 for an
// endpoint not listed).
func binanceWeight(r *http.Request) int {
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/api/v3/klines"):
		return 2
	case strings.HasSuffix(p, "/api/v3/historicalTrades"), strings.HasSuffix(p, "/api/v3/trades"):
		return 25
	case strings.HasSuffix(p, "/api/v3/aggTrades"):
		return 4
	case strings.HasSuffix(p, "/api/v3/depth"):
		return binanceDepthWeight(r.URL.Query().Get("limit"))
	case strings.HasSuffix(p, "/api/v3/account"):
		return 20
	}
	return 1
}

// binanceDepthWeight is GET /api/v3/depth's weight, which depends on its
// limit (default 100): 1-100: 5, 101-500: 25, 501-1000: 50, 1001-5000: 250
// (rest-api.md, "Order book").
func binanceDepthWeight(limit string) int {
	n := 100
	if limit != "" {
		v, err := strconv.Atoi(limit)
		if err != nil {
			return 250 // the exchange refuses it; count the most
		}
		n = v
	}
	switch {
	case n <= 100:
		return 5
	case n <= 500:
		return 25
	case n <= 1000:
		return 50
	}
	return 250
}

package main

import (
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/collector/coinbase"
	"marketetl/collector/okx"
	"marketetl/config"
	"marketetl/market"
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

// collectorFactory returns a function that builds a collector for a spec.
func collectorFactory(apis map[market.Exchange]exchangeAPI, sink collector.Sink, readLimit int64, log *zap.Logger) func(spec collector.Spec) (*collector.Collector, error) {
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
		}, api, sink)
	}
}

package service

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"marketetl/collector"
	"marketetl/config"
	"marketetl/credentials"
	"marketetl/spec"
)

// PrivateEndpoints are the URLs of the exchanges' private streams that
// are not among Endpoints (Coinbase's authenticated feed is CoinbaseWS).
type PrivateEndpoints struct {
	OKXPrivateWS string
	BinanceWSAPI string
}

// PrivateEndpointsFromConfig returns the URLs of the environment
// (OKX_WS_PRIVATE_URL, BINANCE_WS_API_URL).
func PrivateEndpointsFromConfig(c config.Config) PrivateEndpoints {
	return PrivateEndpoints{OKXPrivateWS: c.OKXPrivateWS, BinanceWSAPI: c.BinanceWSAPI}
}

// PrivateParams are what a private (balance) adapter is built with.
type PrivateParams struct {
	// Endpoints and Private are the URLs to dial.
	Endpoints Endpoints
	Private   PrivateEndpoints
	// HTTP makes the signed REST calls, within the exchange's budget.
	HTTP *http.Client
	// Credentials are the account's keys.
	Credentials credentials.Credentials
	// Account labels the balances.
	Account string
	// Now is the exchange's clock to sign with (the collector measures
	// its skew).
	Now func() time.Time
}

// PrivateExchange is an exchange's private side in the registry.
type PrivateExchange struct {
	// Need says which key values the exchange requires.
	Need credentials.Need
	// New builds the private adapter.
	New func(p PrivateParams) (collector.Protocol, error)
}

// privateCollector builds the collector of a balance collector spec: its
// keys from the environment (or the WithCredentialsLookup lookup), the
// exchange's private adapter signing with the exchange's clock, and the
// pipeline with or without the live feed as sp.Publish says.
func (s *Service) privateCollector(sp spec.Collector, base collector.Config) (*collector.Collector, error) {
	e, ok := s.exchanges[sp.Exchange]
	if !ok || e.Private == nil || e.Private.New == nil {
		return nil, fmt.Errorf("collector %s: %s has no private (balance) stream: %w", sp.Name, sp.Exchange, collector.ErrPermanent)
	}
	lookup := s.opts.lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	creds, err := credentials.Load(sp.Credentials, e.Private.Need, lookup)
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w: %w", sp.Name, err, collector.ErrPermanent)
	}
	clock := collector.NewExchangeClock(nil)
	proto, err := e.Private.New(PrivateParams{
		Endpoints: s.endpoints, Private: s.privateEndpoints,
		HTTP:        s.budgets.client(sp.Exchange, s.opts.httpClient),
		Credentials: creds, Account: sp.AccountLabel(), Now: clock.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w: %w", sp.Name, err, collector.ErrPermanent)
	}
	cfg := base
	cfg.History = nil
	cfg.Clock = clock
	cfg.BalanceReconcile = sp.ReconcileInterval.Std()
	if s.opts.collector != nil {
		s.opts.collector(&cfg)
	}
	var sink collector.Sink = s.privatePipe
	if sp.Publish {
		sink = s.pipe
	}
	return collector.New(cfg, proto, sink)
}

// keyedAdapter builds the market data adapter of sp, a collector that
// names credentials, signing with those keys.
func (s *Service) keyedAdapter(sp spec.Collector) (Adapter, error) {
	e, ok := s.exchanges[sp.Exchange]
	if !ok || e.Keyed == nil {
		return nil, fmt.Errorf("collector %s: %s market data takes no API keys: %w", sp.Name, sp.Exchange, collector.ErrPermanent)
	}
	creds, err := credentials.Load(sp.Credentials, keyNeed(e), s.lookup())
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w: %w", sp.Name, err, collector.ErrPermanent)
	}
	a, err := e.Keyed(s.endpoints, s.budgets.client(sp.Exchange, s.opts.httpClient), creds)
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w: %w", sp.Name, err, collector.ErrPermanent)
	}
	return a, nil
}

// keyNeed is what e's keys consist of.
func keyNeed(e Exchange) credentials.Need {
	if e.Private == nil {
		return credentials.Need{}
	}
	return e.Private.Need
}

// lookup returns the environment lookup of the keys.
func (s *Service) lookup() credentials.Lookup {
	if s.opts.lookup != nil {
		return s.opts.lookup
	}
	return os.LookupEnv
}

// CheckCredentials loads the keys of every balance collector among specs,
// and of every market data collector that names credentials, so that a
// missing variable or an insecure key file stops the service at startup
// with a message naming the collector and the variable (never a value),
// rather than failing the collector later.
func (s *Service) CheckCredentials(specs []spec.Collector) error {
	lookup := s.opts.lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var errs []error
	for _, sp := range specs {
		if !sp.IsEnabled() {
			continue
		}
		if !sp.IsBalance() {
			if sp.Credentials == "" {
				continue
			}
			e, ok := s.exchanges[sp.Exchange]
			if !ok || e.Keyed == nil {
				errs = append(errs, fmt.Errorf("collector %s: %s market data takes no API keys", sp.Name, sp.Exchange))
				continue
			}
			if _, err := credentials.Load(sp.Credentials, keyNeed(e), lookup); err != nil {
				errs = append(errs, fmt.Errorf("collector %s: %w", sp.Name, err))
			}
			continue
		}
		e, ok := s.exchanges[sp.Exchange]
		if !ok || e.Private == nil {
			errs = append(errs, fmt.Errorf("collector %s: %s has no private (balance) stream", sp.Name, sp.Exchange))
			continue
		}
		if _, err := credentials.Load(sp.Credentials, e.Private.Need, lookup); err != nil {
			errs = append(errs, fmt.Errorf("collector %s: %w", sp.Name, err))
		}
	}
	return errors.Join(errs...)
}

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
	"marketetl/service"
	"marketetl/sim"
	"marketetl/spec"
)

// demoCredentials are the simulated exchange's demo keys under the names
// the demo's balance collectors use (<EXCHANGE>_DEMO): they are demo
// values, which is why the demo prints them; real keys are never printed.
func demoCredentials() map[string]string {
	env := map[string]string{}
	for _, ex := range market.Exchanges() {
		k := sim.DemoAPIKey(ex)
		name := strings.ToUpper(string(ex)) + "_DEMO"
		env[name+"_API_KEY"], env[name+"_API_SECRET"] = k.Key, k.Secret
		if k.Passphrase != "" {
			env[name+"_API_PASSPHRASE"] = k.Passphrase
		}
	}
	return env
}

// demoBalanceOptions point the service's balance collectors at the
// simulator's private endpoints and demo keys.
func demoBalanceOptions(ep sim.Endpoints) []service.Option {
	env := demoCredentials()
	return []service.Option{
		service.WithPrivateEndpoints(service.PrivateEndpoints{OKXPrivateWS: ep.OKXPrivateWS(), BinanceWSAPI: ep.BinanceWSAPI()}),
		service.WithCredentialsLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
	}
}

// demoBalanceSpec is ex's demo balance collector (account main).
func demoBalanceSpec(ex market.Exchange) spec.Collector {
	return spec.Collector{Name: "demo-" + string(ex) + "-balances", Exchange: ex, DataTypes: []market.DataType{market.TypeBalance},
		Credentials: strings.ToUpper(string(ex)) + "_DEMO", ReconcileInterval: spec.Duration(30 * time.Second)}
}

// printDemoKeys prints the demo keys the balance collectors log in with
// (and Coinbase's order books subscribe level2 with).
func printDemoKeys(w io.Writer) {
	fmt.Fprintln(w, "balances: the simulated exchanges' demo API keys (demo values only; real keys are never printed):")
	for _, ex := range market.Exchanges() {
		k := sim.DemoAPIKey(ex)
		if k.Key == "" {
			continue // no private stream (Kraken)
		}
		line := fmt.Sprintf("  %-8s key %s secret %s", ex, k.Key, k.Secret)
		if k.Passphrase != "" {
			line += " passphrase " + k.Passphrase
		}
		fmt.Fprintln(w, line)
	}
}

// scriptBalances changes the simulated accounts every period until ctx
// ends: mostly pushed changes, and every third one on Coinbase not pushed
// (as its balance channel may not), which the reconciliation stores.
func scriptBalances(ctx context.Context, s *sim.Sim, every time.Duration) error {
	seed := func(ex market.Exchange) error {
		_, err := s.SetBalances(ex, false,
			sim.BalanceChange{Asset: "BTC", Free: decimal.RequireFromString("1.5"), Locked: decimal.Zero},
			sim.BalanceChange{Asset: "USDT", Free: decimal.RequireFromString("25000"), Locked: decimal.Zero})
		return err
	}
	for _, ex := range market.Exchanges() {
		if err := seed(ex); err != nil {
			return err
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for n := int64(1); ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, ex := range market.Exchanges() {
			locked := decimal.New(n%4, -2) // 0.00 .. 0.03 BTC in open orders
			free := decimal.RequireFromString("1.5").Sub(locked).Add(decimal.New(n, -3))
			push := !(ex == market.Coinbase && n%3 == 0)
			if _, err := s.SetBalances(ex, push,
				sim.BalanceChange{Asset: "BTC", Free: free, Locked: locked},
				sim.BalanceChange{Asset: "USDT", Free: decimal.RequireFromString("25000").Sub(decimal.New(n*37, 0)), Locked: decimal.Zero}); err != nil {
				return err
			}
		}
	}
}

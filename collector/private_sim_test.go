package collector_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/collector/coinbase"
	"marketetl/collector/okx"
	"marketetl/credentials"
	"marketetl/market"
	"marketetl/sim"
)

// privateAdapters builds the three private adapters for the simulator's
// endpoints and keys.
func privateAdapters(t *testing.T, ep sim.Endpoints, keys map[market.Exchange]sim.APIKey) map[market.Exchange]collector.Protocol {
	t.Helper()
	creds := func(ex market.Exchange) credentials.Credentials {
		k := keys[ex]
		return credentials.Credentials{Name: "SIM", Key: credentials.NewSecret(k.Key), Secret: credentials.NewSecret(k.Secret), Passphrase: credentials.NewSecret(k.Passphrase)}
	}
	o, err := okx.NewPrivate(okx.PrivateConfig{URL: ep.OKXPrivateWS(), RESTURL: ep.OKXREST, Credentials: creds(market.OKX), Account: "spot"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := binance.NewPrivate(binance.PrivateConfig{URL: ep.BinanceWSAPI(), RESTURL: ep.BinanceREST, Credentials: creds(market.Binance), Account: "spot"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := coinbase.NewPrivate(coinbase.PrivateConfig{URL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST, Credentials: creds(market.Coinbase), Account: "spot"})
	if err != nil {
		t.Fatal(err)
	}
	return map[market.Exchange]collector.Protocol{market.OKX: o, market.Binance: b, market.Coinbase: c}
}

// TestPrivateRESTAgainstSimulator reads the signed REST snapshots, server
// times and key permissions of the three private adapters from the
// simulated exchange, which checks the signatures by the documented rules;
// a wrong secret is refused as permanent.
func TestPrivateRESTAgainstSimulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, ep := listenSim(t, ctx, sim.Config{Seed: 5, Start: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, nil)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	keys := map[market.Exchange]sim.APIKey{}
	for _, ex := range []market.Exchange{market.OKX, market.Binance, market.Coinbase} {
		keys[ex] = sim.DemoAPIKey(ex)
		if _, err := s.SetBalances(ex, true,
			sim.BalanceChange{Asset: "BTC", Free: decimal.RequireFromString("1.25000000"), Locked: decimal.RequireFromString("0.5")},
			sim.BalanceChange{Asset: "USDT", Free: decimal.RequireFromString("1000.01"), Locked: decimal.Zero}); err != nil {
			t.Fatal(err)
		}
	}
	s.SetKeyCanTrade(market.Binance, true)
	for ex, proto := range privateAdapters(t, ep, keys) {
		t.Run(string(ex), func(t *testing.T) {
			if p, ok := proto.(collector.Preparer); ok {
				if err := p.Prepare(ctx); err != nil {
					t.Fatalf("Prepare: %v", err)
				}
			}
			recs, err := proto.(collector.Snapshotter).Snapshot(ctx, nil)
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			var got []string
			for _, r := range recs {
				b := r.(*market.Balance)
				got = append(got, string(b.Symbol)+" "+b.Free.String()+" "+b.Locked.String()+" "+b.Account)
			}
			sort.Strings(got)
			if want := []string{"BTC 1.25 0.5 spot", "USDT 1000.01 0 spot"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("snapshot %q, want %q", got, want)
			}
			st, err := proto.(collector.ServerClock).ServerTime(ctx)
			if err != nil || st.IsZero() {
				t.Errorf("ServerTime: %v, %v", st, err)
			}
			if pc, ok := proto.(collector.PermissionChecker); ok {
				perms, err := pc.KeyPermissions(ctx)
				if err != nil || !perms.Known || perms.Trade != (ex == market.Binance) {
					t.Errorf("KeyPermissions: %+v, %v", perms, err)
				}
			}
		})
	}
	// A wrong secret: refused, and permanent (no point retrying).
	bad := map[market.Exchange]sim.APIKey{}
	for ex, k := range keys {
		k.Secret = "d3Jvbmc=" // "wrong", Base64 so that Coinbase's adapter accepts the form
		bad[ex] = k
	}
	for ex, proto := range privateAdapters(t, ep, bad) {
		_, err := proto.(collector.Snapshotter).Snapshot(ctx, nil)
		if err == nil || !errors.Is(err, collector.ErrPermanent) {
			t.Errorf("%s: wrong secret: %v, want a permanent error", ex, err)
		}
	}
}

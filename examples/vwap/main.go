// Command vwap embeds marketetl in a Go program: it builds the service from
// the same environment as `etl run` (DATABASE_URL, the exchanges'
// endpoints, ...), runs one collector of trades, and prints each symbol's
// volume-weighted average price since start, computed in a trade callback.
// Every trade is also stored and published as usual.
//
//	go run ./examples/vwap -exchange binance -symbols BTC-USDT,ETH-USDT -every 5s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"marketetl/config"
	"marketetl/dispatch"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/service"
	"marketetl/spec"
	"marketetl/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "vwap:", err)
		os.Exit(1)
	}
}

// run is the program, with its inputs injected for the test.
func run(ctx context.Context, args []string, env func(string) (string, bool), out io.Writer) error {
	fs := flag.NewFlagSet("vwap", flag.ContinueOnError)
	fs.SetOutput(out)
	ex := fs.String("exchange", "binance", "exchange: okx, binance or coinbase")
	symbols := fs.String("symbols", "BTC-USDT", "comma-separated BASE-QUOTE symbols")
	every := fs.Duration("every", 5*time.Second, "how often to print")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(env)
	if err != nil {
		return err
	}
	log := zap.NewNop()
	if err := store.Migrate(ctx, cfg.DatabaseURL, log); err != nil {
		return err
	}
	pool, err := service.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	svc, err := service.New(cfg, pool, exchange.Registry(), service.WithoutSupervisor(), service.WithoutBackfill())
	if err != nil {
		return err
	}
	sp := spec.Collector{Name: "vwap", Exchange: market.Exchange(*ex), DataTypes: []market.DataType{market.TypeTrade}}
	for _, s := range strings.Split(*symbols, ",") {
		sp.Symbols = append(sp.Symbols, market.Symbol(strings.TrimSpace(s)))
	}
	if err := sp.Validate(); err != nil {
		return err
	}
	col, err := svc.Collector(sp)
	if err != nil {
		return err
	}
	v := newVWAP()
	// Block rather than drop: the VWAP must see every trade. The callback
	// is quick, so it never holds the collector back in practice.
	if _, err := svc.OnTrade(dispatch.Filter{}, v.add, dispatch.Options{Name: "vwap", Policy: dispatch.PolicyBlock}); err != nil {
		return err
	}
	return svc.RunWith(ctx, func(ctx context.Context) error {
		done := make(chan error, 1)
		go func() { done <- col.Run(ctx) }() // waited for below
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			select {
			case err := <-done:
				return err
			case <-t.C:
				v.print(out)
			}
		}
	})
}

// vwap accumulates Σ price·size and Σ size per stream, exactly.
type vwap struct {
	mu   sync.Mutex // guards sums
	sums map[string]*sum
}

type sum struct {
	notional, volume decimal.Decimal
	trades           int
}

func newVWAP() *vwap { return &vwap{sums: map[string]*sum{}} }

func (v *vwap) add(t *market.Trade) {
	v.mu.Lock()
	defer v.mu.Unlock()
	key := string(t.Exchange) + " " + string(t.Symbol)
	s := v.sums[key]
	if s == nil {
		s = &sum{}
		v.sums[key] = s
	}
	s.notional = s.notional.Add(t.Price.Mul(t.Size))
	s.volume = s.volume.Add(t.Size)
	s.trades++
}

// line returns the VWAP of key rounded to 8 places, and its trade count.
func (v *vwap) line(key string) (decimal.Decimal, int, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.sums[key]
	if s == nil || s.volume.IsZero() {
		return decimal.Decimal{}, 0, false
	}
	return s.notional.DivRound(s.volume, 8), s.trades, true
}

func (v *vwap) print(out io.Writer) {
	v.mu.Lock()
	keys := make([]string, 0, len(v.sums))
	for k := range v.sums {
		keys = append(keys, k)
	}
	v.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		if p, n, ok := v.line(k); ok {
			fmt.Fprintf(out, "%s vwap=%s trades=%d\n", k, p.StringFixed(8), n)
		}
	}
}

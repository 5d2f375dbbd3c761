package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/spec"
	"marketetl/store"
	"marketetl/supervisor"
)

// memRegistry keeps collectors in memory.
type memRegistry struct {
	mu    sync.Mutex // guards specs
	specs map[string]spec.Collector
}

func (r *memRegistry) Collectors(context.Context) ([]spec.Collector, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []spec.Collector
	for _, s := range r.specs {
		out = append(out, s)
	}
	return out, nil
}

func (r *memRegistry) PutCollector(_ context.Context, s spec.Collector) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.specs[s.Name] = s
	return nil
}

func (r *memRegistry) DeleteCollector(_ context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.specs, name)
	return nil
}

// noHistory drops the health history.
type noHistory struct{}

func (noHistory) InsertStatus(context.Context, []store.CollectorStatus) error { return nil }
func (noHistory) DeleteStatusBefore(context.Context, time.Time) (int64, error) {
	return 0, nil
}

// streamRunner runs until stopped and reports every SetStreams call.
type streamRunner struct {
	sets chan []market.Stream
}

func (r *streamRunner) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (r *streamRunner) Status() collector.Status {
	return collector.Status{State: collector.StateConnected}
}
func (r *streamRunner) SetStreams(s []market.Stream) error { r.sets <- s; return nil }

// TestReloadResubscribesChangedSymbols: on SIGHUP, a collector whose symbol
// list changed in the file is handed its new streams while it runs; it is
// neither rebuilt nor restarted.
func TestReloadResubscribesChangedSymbols(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "collectors.yaml")
	write := func(symbols string) {
		t.Helper()
		yaml := "collectors:\n  - name: okx-main\n    exchange: okx\n    symbols: [" + symbols + "]\n    data_types: [trade]\n"
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("BTC-USDT")
	runner := &streamRunner{sets: make(chan []market.Stream, 1)}
	builds := make(chan struct{}, 10)
	m, err := supervisor.New(supervisor.Config{HealthCheckInterval: time.Hour},
		func(spec.Collector) (supervisor.Runner, error) { builds <- struct{}{}; return runner, nil },
		&memRegistry{specs: map[string]spec.Collector{}}, noHistory{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	hup := make(chan os.Signal)
	errc := make(chan error, 2)
	go func() { errc <- m.Run(ctx) }()
	go func() { errc <- reloadOn(ctx, hup, path, m, zap.NewNop()) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
	}()
	hup <- os.Interrupt // the first read adds the collector
	<-builds

	write("BTC-USDT, ETH-USDT")
	hup <- os.Interrupt
	var got []market.Stream
	select {
	case got = <-runner.sets:
	case <-builds:
		t.Fatal("the collector was rebuilt (restarted) for a change of symbols")
	}
	want := []market.Stream{
		{Exchange: market.OKX, Type: market.TypeTrade, Symbol: "BTC-USDT"},
		{Exchange: market.OKX, Type: market.TypeTrade, Symbol: "ETH-USDT"},
	}
	slices.SortFunc(got, func(a, b market.Stream) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(got, want) {
		t.Errorf("SetStreams(%v), want %v", got, want)
	}
	rep, err := m.Status("okx-main")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Statistics.Restarts != 0 || len(builds) != 0 {
		t.Errorf("restarts %d, further builds %d: want the collector kept running", rep.Statistics.Restarts, len(builds))
	}
	if !slices.Equal(rep.Symbols, []string{"BTC-USDT", "ETH-USDT"}) {
		t.Errorf("symbols %v, want BTC-USDT and ETH-USDT", rep.Symbols)
	}
}

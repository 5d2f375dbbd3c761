package collector_test

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/collector"
	"marketetl/sim"
)

// listenSim builds a simulated exchange of cfg and has it listen until ctx
// ends; it runs (steps its markets) once handed to runWithSim.
func listenSim(t *testing.T, ctx context.Context, cfg sim.Config, log *zap.Logger) (*sim.Sim, sim.Endpoints) {
	t.Helper()
	s, err := sim.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, ep
}

// runWithSim runs s and the collectors under ctx; the function it returns
// cancels them and waits for them, failing the test on an error.
func runWithSim(t *testing.T, ctx context.Context, cancel context.CancelFunc, s *sim.Sim, cols ...*collector.Collector) (stop func()) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	for _, c := range cols {
		g.Go(func() error { return c.Run(gctx) })
	}
	return func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

package faults

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/sim"
)

// externalRig is the rig of the scenarios that run the etl binary itself
// (13, 14, 26, the cluster): a new database with a checking pool, and the
// simulated exchange of seed for every exchange, listening and running
// until the test ends. prepare, when not nil, sets the exchange up before
// it listens (history horizons, refused symbols). The processes are the
// caller's.
func externalRig(t *testing.T, seed int64, prepare func(*sim.Sim)) (r *rig, dbURL string, ep sim.Endpoints) {
	t.Helper()
	ctx := t.Context()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	exs := market.Exchanges()
	dbURL = dbtest.NewDatabase(t)
	check, err := pgxpool.New(ctx, dbURL+"&application_name=faults_check")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(check.Close)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sim.New(sim.Config{Seed: seed}, log.Named("sim"))
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(sm)
	}
	ep, err = sm.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(ctx)
	var simWG sync.WaitGroup
	simWG.Go(func() {
		if err := sm.Run(simCtx); err != nil {
			t.Errorf("simulated exchange: %v", err)
		}
	})
	t.Cleanup(func() {
		stopSim()
		simWG.Wait()
	})
	r = &rig{t: t, ctx: ctx, opts: rigOpts{exchanges: exs}, log: log, sim: sm, check: check,
		dbName: strings.TrimPrefix(u.Path, "/"), external: true}
	return r, dbURL, ep
}

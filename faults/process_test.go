package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/sim"
)

// Scenario 13: SIGTERM while the exchange trades: the service flushes what
// it holds and exits 0; after a restart it backfills what it missed
// while it was down.
func TestSIGTERMUnderLoad(t *testing.T) {
	s := newScenario(t, 13)
	if !*longFlag {
		s.skip("takes minutes: run with -long (make faults)")
	}
	if !haveGapRepair {
		s.skip(whyGapRepair)
	}
	restartUnderLoad(t, s, syscall.SIGTERM)
}

// Scenario 14: SIGKILL while the exchange trades: nothing is flushed; the
// next start replays the spool and backfills from the last stored record
// of each stream.
func TestSIGKILLUnderLoadThenRestart(t *testing.T) {
	s := newScenario(t, 14)
	if !*longFlag {
		s.skip("takes minutes: run with -long (make faults)")
	}
	if !haveGapRepair || !haveSpool {
		s.skip(whyGapRepair + "; " + whySpool)
	}
	restartUnderLoad(t, s, syscall.SIGKILL)
}

// buildETL builds the etl binary into a temporary directory.
func buildETL(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "etl")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "marketetl/cmd/etl")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build etl: %v\n%s", err, out)
	}
	return bin
}

// etlProcess is one running `etl run`.
type etlProcess struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startETL(t *testing.T, bin string, env []string) *etlProcess {
	t.Helper()
	p := &etlProcess{out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "run", "--migrate")
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start etl: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }() // owned by p: wait() or the cleanup below receives it
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit error.
func (p *etlProcess) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(waitBound):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("etl did not exit; output:\n%s", p.out.String())
		return nil
	}
}

func restartUnderLoad(t *testing.T, s *scenario, sig syscall.Signal) {
	ctx := t.Context()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	exs := market.Exchanges()
	bin := buildETL(t)
	dbURL := dbtest.NewDatabase(t)
	check, err := pgxpool.New(ctx, dbURL+"&application_name=faults_check")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(check.Close)
	u, _ := url.Parse(dbURL)
	sm, err := sim.New(sim.Config{Seed: 13}, log.Named("sim"))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := sm.Listen(ctx)
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
	r := &rig{t: t, ctx: ctx, opts: rigOpts{exchanges: exs}, log: log, sim: sm, check: check,
		dbName: strings.TrimPrefix(u.Path, "/"), external: true}
	s.watch(r)

	dir := t.TempDir()
	var yaml strings.Builder
	yaml.WriteString("collectors:\n")
	for _, ex := range exs {
		var syms []string
		for _, sym := range sm.Symbols(ex) {
			syms = append(syms, string(sym))
		}
		fmt.Fprintf(&yaml, "  - name: %s-faults\n    exchange: %s\n    symbols: [%s]\n    data_types: [trade, candle]\n    timeframes: [1m]\n",
			ex, ex, strings.Join(syms, ", "))
		for _, sym := range sm.Symbols(ex) {
			r.streams = append(r.streams,
				market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade},
				market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeCandle, Timeframe: market.TF1m})
		}
	}
	cfgPath := filepath.Join(dir, "collectors.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"DATABASE_URL="+dbURL, "REDIS_URL="+dbtest.RedisURL(), "REDIS_CHANNEL_PREFIX="+dbtest.Unique("faults"),
		"ETL_CONFIG="+cfgPath, "ETL_ADMIN_ADDR=", "LOG_LEVEL=error", "LOG_FORMAT=json",
		"SPOOL_DIR="+filepath.Join(dir, "spool"), "STORE_FLUSH_INTERVAL=20ms",
		"RECONNECT_DELAY=100ms", "RECONNECT_DELAY_MAX=1s",
		"OKX_WS_PUBLIC_URL="+ep.OKXPublicWS, "OKX_WS_BUSINESS_URL="+ep.OKXBusinessWS, "OKX_REST_URL="+ep.OKXREST,
		"BINANCE_WS_URL="+ep.BinanceWS, "BINANCE_REST_URL="+ep.BinanceREST,
		"COINBASE_WS_URL="+ep.CoinbaseWS, "COINBASE_REST_URL="+ep.CoinbaseREST,
		"KRAKEN_WS_URL="+ep.KrakenWS, "KRAKEN_REST_URL="+ep.KrakenREST,
	)

	p := startETL(t, bin, env)
	r.waitSubscribed()
	stop := r.stepper(10 * time.Millisecond)
	r.step(1)
	// Gap detection of a candle stream starts from its last closed
	// candle: the first process runs until each stream has one stored.
	eventually(t, "a closed candle of every stream stored by the first process", func() (bool, string) {
		n := r.queryInt(`SELECT count(DISTINCT (exchange, symbol)) FROM candles WHERE closed`)
		return n == len(r.streams)/2, itoa(n) + " streams with a closed candle"
	})
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err = p.wait(t)
	switch sig {
	case syscall.SIGTERM:
		if err != nil {
			t.Errorf("etl after SIGTERM: %v; output:\n%s", err, p.out.String())
		}
	case syscall.SIGKILL:
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("etl after SIGKILL: %v", err)
		}
	}
	down := r.queryInt(`SELECT count(*) FROM trades`)
	r.step(100) // the exchange trades on while the service is down

	p2 := startETL(t, bin, env)
	r.waitSubscribed()
	end := time.Now()
	r.step(100)
	stop()
	r.afterFault()
	// Coinbase candles are built from trades: those of the minutes the
	// service was down come from the candle gaps its trade gap makes. The
	// candle of the minute it came back in (like the first one of the
	// first process) is built from part of its trades: it is stored as
	// provisional, its check recorded with it, and the second process
	// replaces it with the exchange's candle a minute (wall clock) after it
	// closed (README, Gap detection). Nothing is left out: wait for that,
	// then everything is exact, value for value.
	none := func(market.Exchange, time.Time) bool { return false }
	r.waitTruthWithin(waitBound + 2*time.Minute)
	s.finishExcept(r, time.Since(end), none)
	r.verify()
	s.res.Note = fmt.Sprintf("%d trades stored when the first process ended; %s", down, s.res.Note)
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p2.wait(t); err != nil {
		t.Errorf("second etl after SIGTERM: %v; output:\n%s", err, p2.out.String())
	}
}

package faults

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"marketetl/dbtest"
	"marketetl/market"
)

var clusterFlag = flag.Bool("cluster", false, "run TestCluster: three etl processes sharing the collectors (make cluster-test)")

// clusterLease is the default ETL_CLUSTER_LEASE: the test runs with the
// default cluster settings, so the takeover times it reports are those of
// a default deployment.
const clusterLease = 8 * time.Second

// clusterRig is the database, the simulated exchange and the etl
// processes of TestCluster.
type clusterRig struct {
	*rig
	bin     string
	baseEnv []string
	dir     string
	// names are every collector's name, sorted.
	names []string
	procs map[string]*etlProcess
	// addrs are the instances' admin API addresses.
	addrs map[string]string
	mu    sync.Mutex // guards the fields below
	// doubles records every sample that showed a collector listed under
	// two instances.
	doubles []string
	samples int
	// timeline is every change of a collector's owners the sampler saw,
	// lastOwners each collector's owners at the last sample, events the
	// test's steps: printed when the truth is not reached.
	timeline   []ownerChange
	lastOwners map[string][]string
	events     []faultEvent
}

// TestCluster runs three `etl run` processes with ETL_CLUSTER=true against
// one database and the simulated exchange, one collector per market of
// every exchange, and asserts with exact counts through SIGKILL, SIGSTOP
// beyond the lease, a database connection cut and a joining instance.
func TestCluster(t *testing.T) {
	if !*clusterFlag {
		t.Skip("runs with -cluster (make cluster-test)")
	}
	c := newClusterRig(t)

	// Three instances; c reaches the database through a relay that can be
	// cut while the process lives.
	c.start("a", "")
	c.waitRow("a")
	c.start("b", "")
	pgRelay := dbtest.NewRelay(t, "127.0.0.1:5432")
	c.start("c", pgRelay.Addr())
	c.waitSpread("three instances", []string{"a", "b", "c"})
	c.checkStatusAPI("a", []string{"a", "b", "c"})
	c.waitSubscribed()
	stop := c.stepper(10 * time.Millisecond)
	c.event("stepping the exchange")
	eventually(t, "a closed candle of every stream stored", func() (bool, string) {
		n := c.queryInt(`SELECT count(DISTINCT (exchange, symbol)) FROM candles WHERE closed`)
		return n == len(c.names), itoa(n) + " streams with a closed candle"
	})
	var report []string

	// SIGKILL: the database ends a's session at once; b and c take its
	// collectors, each once: no collector taken beyond a share and given
	// back (a collector moved twice).
	killed := time.Now()
	aOwned := c.ownedBy("a")
	moved := c.rebalanceReleases("b") + c.rebalanceReleases("c")
	if err := c.procs["a"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.event("SIGKILL a")
	_ = c.procs["a"].wait(t)
	c.waitOwnedElsewhere("after SIGKILL of a", "a", aOwned)
	c.event("a's collectors owned elsewhere")
	owned := time.Since(killed)
	c.waitSpread("after SIGKILL of a", []string{"b", "c"})
	c.event("spread over b, c")
	if n := c.rebalanceReleases("b") + c.rebalanceReleases("c") - moved; n != 0 {
		t.Errorf("after SIGKILL of a: b and c gave back %d collectors to reach their shares, want 0 (each of a's collectors moved once)", n)
	}
	report = append(report, fmt.Sprintf("SIGKILL: a's %d collectors owned elsewhere after %s, shares reached after %s",
		len(aOwned), owned.Round(100*time.Millisecond), time.Since(killed).Round(100*time.Millisecond)))

	// A new instance joins and takes its share.
	joined := time.Now()
	c.start("d", "")
	c.event("d started")
	c.waitSpread("after d joined", []string{"b", "c", "d"})
	c.event("spread over b, c, d")
	report = append(report, fmt.Sprintf("join: shares reached after %s", time.Since(joined).Round(100*time.Millisecond)))

	// SIGSTOP beyond the lease: the database ends b's session after the
	// lease, c and d take b's collectors; on SIGCONT b finds its heartbeat
	// late, stops everything and joins again.
	stopped := time.Now()
	bOwned := c.ownedBy("b")
	if err := c.procs["b"].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	c.event("SIGSTOP b")
	c.waitOwnedElsewhere("after SIGSTOP of b", "b", bOwned)
	c.event("b's collectors owned elsewhere")
	report = append(report, fmt.Sprintf("SIGSTOP: b's %d collectors owned elsewhere after %s (lease %s)",
		len(bOwned), time.Since(stopped).Round(100*time.Millisecond), clusterLease))
	if err := c.procs["b"].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	c.event("SIGCONT b")
	c.waitSpread("after SIGCONT of b", []string{"b", "c", "d"})
	c.event("spread over b, c, d")

	// The database connection of c cut while c lives: c gives its
	// collectors up (its log says so), the others take them; when the
	// relay is back, c joins again.
	cut := time.Now()
	cOwned := c.ownedBy("c")
	pgRelay.SetDown(true)
	c.event("c's database connection cut")
	eventually(t, "c giving its collectors up", func() (bool, string) {
		return strings.Contains(c.procs["c"].out.String(), "gave up every collector"), "not in c's log yet"
	})
	// c's own view, from its admin API (which needs no database): no
	// collector running, nothing owned.
	eventually(t, "c running no collector", func() (bool, string) {
		st, err := c.status("c")
		if err != nil {
			return false, err.Error()
		}
		return st.Statistics.Running == 0 && len(st.Components.Cluster.Owned) == 0, fmt.Sprintf("%+v", st)
	})
	c.waitOwnedElsewhere("after c's connection was cut", "c", cOwned)
	c.event("c's collectors owned elsewhere")
	report = append(report, fmt.Sprintf("connection cut: c's %d collectors owned elsewhere after %s",
		len(cOwned), time.Since(cut).Round(100*time.Millisecond)))
	pgRelay.SetDown(false)
	c.event("c's database connection back")
	c.waitSpread("after c's connection came back", []string{"b", "c", "d"})
	c.event("spread over b, c, d")
	// The exchange trades on until every stream is subscribed by its last
	// owner: an instance dials at the exchange's pace (OKX: 2 a second, so
	// the fourth connection of an instance that took two OKX collectors at
	// once comes 1.5 s after the first), and a stream that receives nothing
	// after its takeover has nothing to find its restart gap by (a live
	// exchange's next record shows it).
	c.waitSubscribed()
	c.event("every stream subscribed")

	c.step(65)
	stop()
	c.event("stepper stopped")
	c.afterFault()
	c.event("last step")
	// Coinbase candles are built from trades: the candle of the minute in
	// which a Coinbase collector changed owner is built by the new owner
	// from part of that minute's trades, stored as provisional with its
	// check, and replaced by the exchange's candle a minute (wall clock)
	// after it closed (README, Gap detection). Nothing is left out: wait
	// for that, then everything is exact, value for value.
	c.waitTruthExplained(waitBound + 2*time.Minute)
	c.waitGapsSettled()
	cnt := c.count()
	if cnt.stored != cnt.wantStored || cnt.duplicates != 0 {
		t.Errorf("stored %d rows, want %d; %d duplicates (%s)", cnt.stored, cnt.wantStored, cnt.duplicates, cnt)
	}
	if n := c.gapsOpen(); n != 0 {
		t.Errorf("%d gaps not filled:\n%s", n, strings.Join(c.gapRows(), "\n"))
	}
	c.verify()
	if t.Failed() {
		t.Log(c.explain())
	}
	c.mu.Lock()
	if len(c.doubles) > 0 {
		t.Errorf("a collector listed under two instances in %d of %d samples: %s", len(c.doubles), c.samples, strings.Join(c.doubles, "; "))
	}
	samples := c.samples
	c.mu.Unlock()
	t.Logf("cluster: %d trades and candles stored, %d gaps filled, %d ownership samples without a double owner; %s",
		cnt.stored, c.queryInt(`SELECT count(*) FROM gaps WHERE status = 'filled'`), samples, strings.Join(report, "; "))
	for _, id := range []string{"b", "c", "d"} {
		if err := c.procs[id].cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := c.procs[id].wait(t); err != nil {
			t.Errorf("%s after SIGTERM: %v", id, err)
		}
	}
}

func newClusterRig(t *testing.T) *clusterRig {
	ctx := t.Context()
	bin := buildETL(t)
	r, dbURL, ep := externalRig(t, 17, nil)
	exs, sm := r.opts.exchanges, r.sim
	c := &clusterRig{rig: r, bin: bin, dir: t.TempDir(), procs: map[string]*etlProcess{}, addrs: map[string]string{}}

	// One collector per market, so that there is something to share.
	var yaml strings.Builder
	yaml.WriteString("collectors:\n")
	for _, ex := range exs {
		for _, sym := range sm.Symbols(ex) {
			name := strings.ToLower(fmt.Sprintf("%s-%s", ex, sym))
			c.names = append(c.names, name)
			fmt.Fprintf(&yaml, "  - name: %s\n    exchange: %s\n    symbols: [%s]\n    data_types: [trade, candle]\n    timeframes: [1m]\n", name, ex, sym)
			r.streams = append(r.streams,
				market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade},
				market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeCandle, Timeframe: market.TF1m})
		}
	}
	sort.Strings(c.names)
	cfgPath := filepath.Join(c.dir, "collectors.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c.baseEnv = append(os.Environ(),
		"REDIS_URL="+dbtest.RedisURL(), "REDIS_CHANNEL_PREFIX="+dbtest.Unique("cluster"),
		"ETL_CONFIG="+cfgPath, "LOG_LEVEL="+clusterLogLevel(), "LOG_FORMAT=json", "STORE_FLUSH_INTERVAL=20ms",
		"RECONNECT_DELAY=100ms", "RECONNECT_DELAY_MAX=1s", "ETL_CLUSTER=true",
		"OKX_WS_PUBLIC_URL="+ep.OKXPublicWS, "OKX_WS_BUSINESS_URL="+ep.OKXBusinessWS, "OKX_REST_URL="+ep.OKXREST,
		"BINANCE_WS_URL="+ep.BinanceWS, "BINANCE_REST_URL="+ep.BinanceREST,
		"COINBASE_WS_URL="+ep.CoinbaseWS, "COINBASE_REST_URL="+ep.CoinbaseREST,
		"KRAKEN_WS_URL="+ep.KrakenWS, "KRAKEN_REST_URL="+ep.KrakenREST,
	)
	c.baseEnv = append(c.baseEnv, "DATABASE_URL="+dbURL)
	c.sample(ctx)
	return c
}

// clusterLogLevel is the instances' LOG_LEVEL: warn, or FAULTS_LOG_LEVEL
// (info shows every takeover and every gap filled).
func clusterLogLevel() string {
	if l := os.Getenv("FAULTS_LOG_LEVEL"); l != "" {
		return l
	}
	return "warn"
}

// start starts instance id; pgAddr, when set, is the host:port its
// DATABASE_URL goes through.
func (c *clusterRig) start(id, pgAddr string) {
	c.t.Helper()
	env := slices.Clone(c.baseEnv)
	if pgAddr != "" {
		env = append(env, "DATABASE_URL="+viaRelay(c.t, dbURLOf(env), pgAddr))
	}
	addr := freeAddr(c.t)
	env = append(env, "ETL_INSTANCE_ID="+id, "ETL_ADMIN_ADDR="+addr, "SPOOL_DIR="+filepath.Join(c.dir, "spool-"+id))
	p := startETL(c.t, c.bin, env)
	c.procs[id] = p
	c.addrs[id] = addr
	// FAULTS_LOG_DIR keeps each instance's log after the test, for
	// reading the takeovers' timeline.
	if dir := os.Getenv("FAULTS_LOG_DIR"); dir != "" {
		c.t.Cleanup(func() {
			_ = os.WriteFile(filepath.Join(dir, id+".log"), []byte(p.out.String()), 0o644)
		})
	}
}

// dbURLOf returns the last DATABASE_URL of env.
func dbURLOf(env []string) string {
	var u string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "DATABASE_URL="); ok {
			u = v
		}
	}
	return u
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitRow waits until instance id has its row (it has migrated the
// database and joined).
func (c *clusterRig) waitRow(id string) {
	c.t.Helper()
	eventually(c.t, id+" registered", func() (bool, string) {
		var n int
		// The table appears when the first instance has migrated.
		err := c.check.QueryRow(c.ctx, `SELECT count(*) FROM instances WHERE instance_id = $1`, id).Scan(&n)
		return err == nil && n == 1, fmt.Sprintf("%d rows, %v", n, err)
	})
}

// owners returns, from the instances table, each live instance's owned
// collectors (an instance is live while its session holds its instance
// lock: the advisory lock (0x45544c49, lock_key)).
func (c *clusterRig) owners() map[string][]string {
	c.t.Helper()
	rows, err := c.check.Query(c.ctx, `SELECT instance_id, owned FROM instances i
		WHERE EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid::bigint = 1163152457 AND l.objid::bigint = i.lock_key)
		ORDER BY instance_id`)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id string
		var owned []string
		if err := rows.Scan(&id, &owned); err != nil {
			c.t.Fatal(err)
		}
		out[id] = owned
	}
	return out
}

func (c *clusterRig) ownedBy(id string) []string { return c.owners()[id] }

// waitSpread waits until exactly the instances ids own every collector
// exactly once, each n/k or n/k+1 of them.
func (c *clusterRig) waitSpread(what string, ids []string) {
	c.t.Helper()
	n, k := len(c.names), len(ids)
	eventually(c.t, what+": every collector owned once, spread over "+strings.Join(ids, ", "), func() (bool, string) {
		own := c.owners()
		var all []string
		var got []string
		for id, names := range own {
			if len(names) > 0 {
				got = append(got, id)
			}
			if len(names) < n/k || len(names) > n/k+1 {
				return false, fmt.Sprintf("%v", own)
			}
			all = append(all, names...)
		}
		sort.Strings(all)
		sort.Strings(got)
		if !slices.Equal(all, c.names) || (n >= k && !slices.Equal(got, ids)) {
			return false, fmt.Sprintf("%v", own)
		}
		return true, ""
	})
}

// waitOwnedElsewhere waits until every collector of names is owned by an
// instance other than id.
func (c *clusterRig) waitOwnedElsewhere(what, id string, names []string) {
	c.t.Helper()
	if len(names) == 0 {
		c.t.Fatalf("%s: %s owned nothing before the fault", what, id)
	}
	eventually(c.t, what, func() (bool, string) {
		own := c.owners()
		for _, n := range names {
			found := false
			for other, list := range own {
				if other != id && slices.Contains(list, n) {
					found = true
				}
			}
			if !found {
				return false, fmt.Sprintf("%s not owned elsewhere: %v", n, own)
			}
		}
		return true, ""
	})
}

// sample checks, every 100 ms until the test ends, that no collector is
// listed under two instances in the instances table, whatever their
// heartbeat's age.
func (c *clusterRig) sample(ctx context.Context) {
	var wg sync.WaitGroup
	sctx, cancel := context.WithCancel(ctx)
	wg.Go(func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tk.C:
			}
			var doubled []string
			err := c.check.QueryRow(sctx, `SELECT coalesce(array_agg(name), '{}') FROM (
				SELECT name FROM instances, unnest(owned) AS name GROUP BY name HAVING count(*) > 1) d`).Scan(&doubled)
			if err != nil {
				continue // the test is ending
			}
			c.mu.Lock()
			c.samples++
			if len(doubled) > 0 {
				c.doubles = append(c.doubles, fmt.Sprintf("%s: %v", time.Now().Format(time.TimeOnly), doubled))
			}
			c.mu.Unlock()
			_ = c.sampleOwners(sctx) // for the timeline; a failed sample is the test ending
		}
	})
	c.t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// statusAnswer is the part of GET /api/status the test reads.
type statusAnswer struct {
	Statistics struct {
		Running int `json:"running"`
	} `json:"statistics"`
	Components struct {
		Cluster struct {
			InstanceID string   `json:"instance_id"`
			Owned      []string `json:"owned"`
			Instances  []struct {
				ID    string   `json:"instance_id"`
				Live  bool     `json:"live"`
				Owned []string `json:"owned"`
			} `json:"instances"`
		} `json:"cluster"`
	} `json:"components"`
}

// status returns instance id's GET /api/status.
func (c *clusterRig) status(id string) (statusAnswer, error) {
	var st statusAnswer
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, "http://"+c.addrs[id]+"/api/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// rebalanceReleases is etl_cluster_released_total{reason="rebalance"} of
// instance id: the collectors it gave back to reach its share.
func (c *clusterRig) rebalanceReleases(id string) int {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, "http://"+c.addrs[id]+"/metrics", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("metrics of %s: %v", id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("metrics of %s: %v", id, err)
	}
	const series = `etl_cluster_released_total{reason="rebalance"} `
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				c.t.Fatalf("metrics of %s: %q: %v", id, line, err)
			}
			return int(n)
		}
	}
	c.t.Fatalf("metrics of %s: no %s", id, strings.TrimSpace(series))
	return 0
}

// checkStatusAPI checks that GET /api/status on instance id shows the
// cluster with the instances ids live and owning collectors.
func (c *clusterRig) checkStatusAPI(id string, ids []string) {
	c.t.Helper()
	eventually(c.t, id+"'s /api/status showing the cluster", func() (bool, string) {
		st, err := c.status(id)
		if err != nil {
			return false, err.Error()
		}
		cl := st.Components.Cluster
		var live []string
		for _, in := range cl.Instances {
			if in.Live && len(in.Owned) > 0 {
				live = append(live, in.ID)
			}
		}
		return cl.InstanceID == id && slices.Equal(live, ids) && st.Statistics.Running == len(cl.Owned), fmt.Sprintf("%+v", st)
	})
}

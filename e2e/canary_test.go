package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/collector/coinbase"
	"marketetl/collector/okx"
	"marketetl/config"
	"marketetl/exchange"
	"marketetl/logging"
	"marketetl/market"
	"marketetl/service"
	"marketetl/sim"
	"marketetl/spec"
)

// spy keeps every signature the private adapters sent (in WebSocket
// frames and REST requests), so that the outputs can be searched for
// them, and arms a panic in OKX's Decode.
type spy struct {
	mu    sync.Mutex
	sigs  map[string]bool
	panic atomic.Bool
}

var sigField = regexp.MustCompile(`"(?:sign|signature)":"([^"]+)"`)

func (s *spy) frames(frames [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range frames {
		for _, m := range sigField.FindAllSubmatch(f, -1) {
			s.sigs[string(m[1])] = true
		}
	}
}

func (s *spy) add(sig string) {
	if sig == "" {
		return
	}
	s.mu.Lock()
	s.sigs[sig] = true
	s.mu.Unlock()
}

func (s *spy) signatures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.sigs))
	for k := range s.sigs {
		out = append(out, k)
	}
	return out
}

// RoundTrip records the REST signatures (headers and Binance's query).
func (s *spy) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		s.add(r.Header.Get("OK-ACCESS-SIGN"))
		s.add(r.Header.Get("CB-ACCESS-SIGN"))
		s.add(r.URL.Query().Get("signature"))
		return next.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type okxSpy struct {
	*okx.Private
	spy *spy
}

func (o okxSpy) Login(p collector.ConnPlan, id uint64) ([][]byte, error) {
	f, err := o.Private.Login(p, id)
	o.spy.frames(f)
	return f, err
}

func (o okxSpy) Decode(frame []byte, received time.Time, ev *collector.Event) error {
	if o.spy.panic.CompareAndSwap(true, false) {
		panic("injected panic in the private adapter")
	}
	return o.Private.Decode(frame, received, ev)
}

type binanceSpy struct {
	*binance.Private
	spy *spy
}

func (b binanceSpy) Subscribe(p collector.ConnPlan, s []market.Stream, id uint64) ([][]byte, error) {
	f, err := b.Private.Subscribe(p, s, id)
	b.spy.frames(f)
	return f, err
}

type coinbaseSpy struct {
	*coinbase.Private
	spy *spy
}

func (c coinbaseSpy) Subscribe(p collector.ConnPlan, s []market.Stream, id uint64) ([][]byte, error) {
	f, err := c.Private.Subscribe(p, s, id)
	c.spy.frames(f)
	return f, err
}

// spiedRegistry is the project's registry with the private adapters
// wrapped by sp.
func spiedRegistry(sp *spy) service.Registry {
	reg := exchange.Registry()
	wrap := func(ex market.Exchange, w func(collector.Protocol) collector.Protocol) {
		e := reg[ex]
		inner := e.Private.New
		e.Private = &service.PrivateExchange{Need: e.Private.Need, New: func(p service.PrivateParams) (collector.Protocol, error) {
			proto, err := inner(p)
			if err != nil {
				return nil, err
			}
			return w(proto), nil
		}}
		reg[ex] = e
	}
	wrap(market.OKX, func(p collector.Protocol) collector.Protocol { return okxSpy{p.(*okx.Private), sp} })
	wrap(market.Binance, func(p collector.Protocol) collector.Protocol { return binanceSpy{p.(*binance.Private), sp} })
	wrap(market.Coinbase, func(p collector.Protocol) collector.Protocol { return coinbaseSpy{p.(*coinbase.Private), sp} })
	return reg
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestSecretsNeverLeak runs the service (debug logs in a file, the admin
// API, Redis with balances published, the spool) with canary keys through
// logins, a reconnect, a rejected private frame, a panic in the private
// adapter and a refused login, then searches every output — the log
// file, the status page and API, the metrics, every table, the spool
// files and the Redis messages — for the canary key, secret and
// passphrase and for every signature the adapters sent.
func TestSecretsNeverLeak(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logDir, spoolDir := t.TempDir(), t.TempDir()
	log, closeLog, err := logging.New(logging.Config{Level: "debug", Format: "json", Dir: logDir})
	if err != nil {
		t.Fatal(err)
	}
	_, pool := migratedPool(t, ctx, log)
	defer pool.Close()
	s, err := sim.New(sim.Config{Seed: 31, Rate: 20}, log.Named("sim"))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}

	canaries := map[market.Exchange]sim.APIKey{
		market.OKX:      {Key: "CANARY-okx-key-7f3a", Secret: "CANARY-okx-secret-91c2", Passphrase: "CANARY-okx-pass-55d0"},
		market.Binance:  {Key: "CANARY-binance-key-a0b1", Secret: "CANARY-binance-secret-c2d3"},
		market.Coinbase: {Key: "CANARY-coinbase-key-e4f5", Secret: base64.StdEncoding.EncodeToString([]byte("CANARY-coinbase-secret-0617")), Passphrase: "CANARY-coinbase-pass-2839"},
	}
	needles := []string{"CANARY", "CANARY-coinbase-secret-0617"}
	env := map[string]string{}
	for ex, k := range canaries {
		s.SetAPIKey(ex, k)
		name := strings.ToUpper(string(ex)) + "_MAIN"
		env[name+"_API_KEY"], env[name+"_API_SECRET"], env[name+"_API_PASSPHRASE"] = k.Key, k.Secret, k.Passphrase
		needles = append(needles, k.Key, k.Secret)
		if k.Passphrase != "" {
			needles = append(needles, k.Passphrase)
		}
		if _, err := s.SetBalances(ex, false, sim.BalanceChange{Asset: "BTC", Free: decimal.RequireFromString("1"), Locked: decimal.Zero}); err != nil {
			t.Fatal(err)
		}
	}

	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.HealthCheckInterval, cfg.GlobalHealthCheckInterval = 200*time.Millisecond, time.Second
	cfg.ReconnectDelay, cfg.ReconnectDelayMax = 20*time.Millisecond, 100*time.Millisecond
	cfg.MaxReconnectAttempts = 1
	cfg.StopTimeout, cfg.ShutdownTimeout = 5*time.Second, 10*time.Second
	cfg.StoreFlushInterval = 10 * time.Millisecond
	cfg.AdminAddr = freeAddr(t)
	cfg.SpoolDir = spoolDir
	cfg.RedisEnabled = true
	cfg.RedisChannelPrefix = fmt.Sprintf("canary%d", time.Now().UnixNano())
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	sub := rdb.PSubscribe(ctx, cfg.RedisChannelPrefix+":*")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	var redisMu sync.Mutex
	var redisText strings.Builder
	redisDone := make(chan struct{})
	go func() { // owned: ends when sub is closed below
		defer close(redisDone)
		for m := range sub.Channel() {
			redisMu.Lock()
			redisText.WriteString(m.Channel + " " + m.Payload + "\n")
			redisMu.Unlock()
		}
	}()

	sp := &spy{sigs: map[string]bool{}}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: sp.wrap(http.DefaultTransport)}
	svc, err := service.New(cfg, pool, spiedRegistry(sp), service.WithLogger(log), service.WithHTTPClient(hc),
		service.WithEndpoints(service.Endpoints(ep)),
		service.WithPrivateEndpoints(service.PrivateEndpoints{OKXPrivateWS: ep.OKXPrivateWS(), BinanceWSAPI: ep.BinanceWSAPI()}),
		service.WithCredentialsLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
		service.WithCollectorConfig(func(c *collector.Config) { c.BackoffMin, c.BackoffMax = 10*time.Millisecond, 50*time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	var specs []spec.Collector
	for _, ex := range []market.Exchange{market.OKX, market.Binance, market.Coinbase} {
		sc := balanceSpec(ex, 0)
		sc.Publish = true
		specs = append(specs, sc)
	}
	if _, err := svc.Supervisor().Reconcile(ctx, specs); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.RunWith(ctx, s.Run) }() // owned: waited for below
	r := &balanceRig{pool: pool, sim: s, svc: svc}
	m := svc.Supervisor()
	for _, ex := range []market.Exchange{market.OKX, market.Binance, market.Coinbase} {
		eventually(t, string(ex)+": logged in and stored", func() (bool, string) { return r.matches(t, ctx, ex) })
	}
	// A reconnect (a new login or signed subscription).
	s.DropConnections(market.Binance)
	if _, err := s.SetBalances(market.Binance, false, sim.BalanceChange{Asset: "ETH", Free: decimal.RequireFromString("2"), Locked: decimal.Zero}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "binance: reconnected and stored", func() (bool, string) { return r.matches(t, ctx, market.Binance) })
	// A rejected frame on the private connection.
	if s.SendRaw(market.OKX, []byte(`{"arg":{"channel":"account"},"data":[{"details":[{"ccy":"BTC","availBal":"x"}]}]} CANARY-okx-secret-91c2`)) == 0 {
		t.Fatal("no OKX connection for the garbage frame")
	}
	eventually(t, "the garbage frame rejected", func() (bool, string) {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM rejects WHERE exchange = 'okx'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0, fmt.Sprint(n, " rejects")
	})
	// A panic in the private adapter's code.
	sp.panic.Store(true)
	if _, err := s.SetBalances(market.OKX, true, sim.BalanceChange{Asset: "BTC", Free: decimal.RequireFromString("0.5"), Locked: decimal.Zero}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "okx: stored after the panic", func() (bool, string) {
		ok, state := r.matches(t, ctx, market.OKX)
		return ok && !sp.panic.Load(), state
	})
	// A refused login.
	s.RefuseLogins(market.Coinbase, true)
	s.DropConnections(market.Coinbase)
	eventually(t, "coinbase: refused", func() (bool, string) {
		rep, err := m.Status("coinbase-balances")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(rep.StatusReason, "credentials refused"), rep.StatusReason
	})

	// Every output, while the service runs.
	outputs := map[string]string{}
	get := func(path string) {
		resp, err := http.Get("http://" + cfg.AdminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		outputs["GET "+path] = string(b)
	}
	for _, p := range []string{"/", "/healthz", "/readyz", "/metrics", "/api/status", "/api/collectors"} {
		get(p)
	}
	for _, sc := range specs {
		get("/api/collectors/" + sc.Name)
		get("/api/collectors/" + sc.Name + "/health")
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("service: %v", err)
	}
	sub.Close()
	<-redisDone
	redisMu.Lock()
	outputs["redis"] = redisText.String()
	redisMu.Unlock()
	if !strings.Contains(outputs["redis"], ":balance:main ") {
		t.Errorf("no balance published on the account's channel: %.300s", outputs["redis"])
	}
	_ = log.Sync()
	if err := closeLog(); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"log": logDir, "spool": spoolDir} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			outputs[name+" "+filepath.Base(path)] = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tables, err := pool.Query(context.Background(), "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	tables.Close()
	for _, n := range names {
		var text string
		if err := pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT coalesce(string_agg(t::text, E'\n'), '') FROM %q t`, n)).Scan(&text); err != nil {
			t.Fatal(err)
		}
		outputs["table "+n] = text
	}
	if !strings.Contains(outputs["log etl.log"], "injected panic") {
		t.Error("the injected panic is not in the log")
	}
	sigs := sp.signatures()
	if len(sigs) < 6 {
		t.Fatalf("only %d signatures seen", len(sigs))
	}
	needles = append(needles, sigs...)
	hits := 0
	for where, text := range outputs {
		for _, n := range needles {
			if i := strings.Index(text, n); i >= 0 {
				hits++
				t.Errorf("%s holds a secret or a signature (%q): …%s…", where, n, text[max(0, i-120):min(len(text), i+len(n)+40)])
			}
		}
	}
	t.Logf("searched %d outputs for %d secrets and signatures: %d hits", len(outputs), len(needles), hits)
}

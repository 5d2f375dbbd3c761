package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"marketetl/store"
)

const testToken = "test-admin-token-0123456789"

// fakeReads answers Ping with err and counts every call: the
// unauthenticated endpoints must not reach it per request.
type fakeReads struct {
	mu     sync.Mutex // guards the fields below
	err    error
	pings  int
	counts int
}

func (p *fakeReads) Ping(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pings++
	return p.err
}

func (p *fakeReads) GapCounts(context.Context) (store.GapCounts, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts++
	return store.GapCounts{ByStatus: map[string]map[string]int64{"okx": {"open": 2}}, FilledRows: map[string]map[string]int64{}}, nil
}

func (p *fakeReads) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// calls returns the number of Ping and GapCounts calls.
func (p *fakeReads) calls() (pings, counts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pings, p.counts
}

// newReads returns a read cache over a fresh fakeReads, refreshed once.
func newReads(t *testing.T) (*ReadCache, *fakeReads) {
	t.Helper()
	src := &fakeReads{}
	c, err := NewReadCache(ReadCacheConfig{}, src)
	if err != nil {
		t.Fatal(err)
	}
	c.Refresh(t.Context())
	return c, src
}

// apiHarness is a running manager over fakes with an API in front.
type apiHarness struct {
	*harness
	api     *API
	db      *fakeReads
	reads   *ReadCache
	reg     *prometheus.Registry
	apiLogs *observer.ObservedLogs
}

// newAPIHarness must run inside a synctest bubble; cfg.Reads, Gatherer and
// Log are filled in (the read cache refreshed once).
func newAPIHarness(t *testing.T, cfg APIConfig, mcfg Config) *apiHarness {
	t.Helper()
	promReg := prometheus.NewRegistry()
	mcfg.Registerer = promReg
	h := newHarness(t, mcfg, nil)
	reads, db := newReads(t)
	core, logs := observer.New(zap.DebugLevel)
	cfg.Reads, cfg.Gatherer, cfg.Log = reads, promReg, zap.New(core)
	api, err := NewAPI(cfg, h.m)
	if err != nil {
		t.Fatalf("NewAPI: %v", err)
	}
	return &apiHarness{harness: h, api: api, db: db, reads: reads, reg: promReg, apiLogs: logs}
}

// do serves one request and returns the status code and body.
func (a *apiHarness) do(method, path, token, body string) (int, string) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Host = "127.0.0.1:8080" // the default address's
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	a.api.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// errorText decodes an error answer.
func errorText(t *testing.T, body string) string {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("answer is not a JSON error: %q (%v)", body, err)
	}
	return e.Error
}

func TestAPIAuthorization(t *testing.T) {
	mutating := []struct{ method, path, body string }{
		{"POST", "/api/collectors", `{"name":"n","exchange":"okx","symbols":["BTC-USDT"],"data_types":["trade"]}`},
		{"DELETE", "/api/collectors/a", ""},
		{"POST", "/api/collectors/a/restart", ""},
		{"POST", "/api/collectors/a/enable", ""},
		{"POST", "/api/collectors/a/disable", ""},
		{"POST", "/api/restart-all", ""},
		{"POST", "/api/collectors/a/symbols", `{"symbol":"ETH-USDT"}`},
		{"DELETE", "/api/collectors/a/symbols/BTC-USDT", ""},
	}
	cases := []struct {
		name       string
		configured string
		sent       string
		wantCode   int
		wantText   string
	}{
		{"no token configured", "", testToken, http.StatusForbidden, "set ETL_ADMIN_TOKEN"},
		{"no token sent", testToken, "", http.StatusUnauthorized, "missing or wrong bearer token"},
		{"wrong token", testToken, testToken + "x", http.StatusUnauthorized, "missing or wrong bearer token"},
		{"prefix of the token", testToken, testToken[:10], http.StatusUnauthorized, "missing or wrong bearer token"},
	}
	for _, tc := range cases {
		for _, ep := range mutating {
			t.Run(tc.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					a := newAPIHarness(t, APIConfig{Token: tc.configured}, Config{})
					a.start(newSpec("a"))
					code, body := a.do(ep.method, ep.path, tc.sent, ep.body)
					if code != tc.wantCode || !strings.Contains(errorText(t, body), tc.wantText) {
						t.Errorf("answer %d %s, want %d with %q", code, body, tc.wantCode, tc.wantText)
					}
					if n := len(a.f.startTimes("a")); n != 1 || len(a.m.List()) != 1 || !a.status("a").Enabled ||
						strings.Join(a.status("a").Symbols, ",") != "BTC-USDT" {
						t.Errorf("a refused request changed something: %d starts, list %v", n, a.m.List())
					}
					a.mustStop()
				})
			})
		}
	}
	t.Run("reads need no token", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := newAPIHarness(t, APIConfig{Token: testToken}, Config{})
			a.start(newSpec("a"))
			for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/status", "/api/collectors", "/api/collectors/a", "/api/collectors/a/health"} {
				if code, body := a.do("GET", p, "", ""); code != http.StatusOK {
					t.Errorf("GET %s = %d %s", p, code, body)
				}
			}
			a.mustStop()
		})
	})
}

func TestAPIRefusesNonLoopbackWithoutToken(t *testing.T) {
	cases := []struct {
		addr  string
		token string
		ok    bool
	}{
		{"127.0.0.1:8080", "", true},
		{"[::1]:8080", "", true},
		{"localhost:8080", "", true},
		{"0.0.0.0:8080", "", false},
		{":8080", "", false},
		{"10.1.2.3:8080", "", false},
		{"0.0.0.0:8080", testToken, true},
		// A token shorter than MinTokenLength is refused at startup.
		{"127.0.0.1:8080", "fifteen-chars15", false},
		{"0.0.0.0:8080", "0123456789abcdef", true},
	}
	for _, tc := range cases {
		t.Run(tc.addr+" token="+tc.token, func(t *testing.T) {
			m, err := New(Config{}, newFactory().build, newRegistry(), &fakeHistory{})
			if err != nil {
				t.Fatal(err)
			}
			reads, _ := newReads(t)
			_, err = NewAPI(APIConfig{Addr: tc.addr, Token: tc.token, Reads: reads, Gatherer: prometheus.NewRegistry()}, m)
			if (err == nil) != tc.ok {
				t.Errorf("NewAPI(%s) = %v, want ok=%v", tc.addr, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "ETL_ADMIN_TOKEN") {
				t.Errorf("error %q does not say to set ETL_ADMIN_TOKEN", err)
			}
		})
	}
}

func TestAPIBodyLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAPIHarness(t, APIConfig{Token: testToken, MaxBodyBytes: 512}, Config{})
		a.start()
		big := `{"name":"n","exchange":"okx","symbols":["BTC-USDT"],"data_types":["trade"]}` + strings.Repeat(" ", 1024)
		code, body := a.do("POST", "/api/collectors", testToken, big)
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("declared oversized body: %d %s, want 413", code, body)
		}
		// A body of unknown length is cut while it is read.
		req := httptest.NewRequest("POST", "/api/collectors", io.MultiReader(strings.NewReader(big)))
		req.ContentLength = -1
		req.Host = "127.0.0.1:8080"
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		a.api.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("streamed oversized body: %d %s, want 413", rec.Code, rec.Body)
		}
		errorText(t, rec.Body.String())
		if len(a.m.List()) != 0 {
			t.Errorf("collectors %v added from an oversized body", a.m.List())
		}
		a.mustStop()
	})
}

func TestAPIEndpoints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAPIHarness(t, APIConfig{Token: testToken}, Config{})
		a.start(newSpec("a"))
		steps := []struct {
			method, path, body string
			wantCode           int
			wantInBody         string
		}{
			{"POST", "/api/collectors", `{"name":"b","exchange":"Binance","symbols":["eth-usdt"],"data_types":["ticker","candle"],"timeframes":["1m"],"max_silence_duration":120}`, http.StatusCreated, `"exchange": "binance"`},
			{"POST", "/api/collectors", `{"name":"b","exchange":"binance","symbols":["ETH-USDT"],"data_types":["ticker"]}`, http.StatusConflict, "already exists"},
			{"POST", "/api/collectors", `{"name":"c","exchange":"bitstamp","symbols":["ETH-USDT"],"data_types":["ticker"]}`, http.StatusBadRequest, "exchange"},
			{"POST", "/api/collectors", `{"name":"c","exchange":"okx","symbols":["ETH-USDT"],"data_types":["ticker"],"colour":"red"}`, http.StatusBadRequest, "colour"},
			{"POST", "/api/collectors", `not json`, http.StatusBadRequest, "want one collector as JSON"},
			{"GET", "/api/collectors/b", "", http.StatusOK, `"max_silence_duration": 120`},
			{"GET", "/api/collectors/b/health", "", http.StatusOK, `"is_healthy": true`},
			{"GET", "/api/collectors/zz", "", http.StatusNotFound, "not found"},
			{"POST", "/api/collectors/b/disable", "", http.StatusOK, `"status": "stopped"`},
			{"GET", "/api/collectors?status=running", "", http.StatusOK, `"count": 1`},
			{"GET", "/api/collectors?status=stopped", "", http.StatusOK, `"name": "b"`},
			{"GET", "/api/collectors?status=sleepy", "", http.StatusBadRequest, "want running"},
			{"POST", "/api/collectors/b/restart", "", http.StatusConflict, "disabled"},
			{"POST", "/api/collectors/b/enable", "", http.StatusOK, `"should_be_running": true`},
			{"POST", "/api/collectors/b/restart", "", http.StatusAccepted, "restart requested"},
			{"POST", "/api/restart-all", "", http.StatusAccepted, `"b"`},
			{"DELETE", "/api/collectors/b", "", http.StatusOK, "collector removed"},
			{"DELETE", "/api/collectors/b", "", http.StatusNotFound, "not found"},
			{"PUT", "/api/collectors/a", "", http.StatusMethodNotAllowed, "allowed: GET, DELETE"},
			{"GET", "/api/nothing", "", http.StatusNotFound, "no such endpoint"},
		}
		for _, s := range steps {
			code, body := a.do(s.method, s.path, testToken, s.body)
			synctest.Wait()
			if code != s.wantCode || !strings.Contains(body, s.wantInBody) {
				t.Errorf("%s %s = %d %s\nwant %d with %q", s.method, s.path, code, body, s.wantCode, s.wantInBody)
			}
			if code >= 400 {
				errorText(t, body)
			}
		}
		if got := a.m.List(); len(got) != 1 || got[0] != "a" {
			t.Errorf("collectors at the end: %v, want [a]", got)
		}
		a.mustStop()
	})
}

func TestAPIReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAPIHarness(t, APIConfig{}, Config{})
		a.start(newSpec("a"), newSpec("b", disabled))
		time.Sleep(3 * time.Second)
		synctest.Wait()
		_, body := a.do("GET", "/api/status", "", "")
		var rep map[string]any
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatal(err)
		}
		needKeys(t, "status", rep, "manager", "statistics", "collectors")
		needKeys(t, "manager", rep["manager"], "name", "uptime_seconds")
		needKeys(t, "statistics", rep["statistics"], "running", "failed", "restarts_performed", "total", "healthy")
		cols, _ := rep["collectors"].(map[string]any)
		needKeys(t, "collector", cols["a"], "exchange", "status", "should_be_running", "symbols", "data_types", "auto_restart", "health", "statistics")
		ca, _ := cols["a"].(map[string]any)
		needKeys(t, "health", ca["health"], "time_since_heartbeat", "time_since_data", "max_silence_duration")
		needKeys(t, "statistics", ca["statistics"], "messages_received", "messages_processed", "errors", "restarts",
			"uptime_seconds", "reconnect_attempts", "last_message_time", "connection_uptime", "last_error", "last_restart_time")
		if st := ca["statistics"].(map[string]any); st["uptime_seconds"] != 3.0 || st["last_message_time"] != "2000-01-01T00:00:03Z" {
			t.Errorf("uptime %v, last message %v; want 3 seconds and 2000-01-01T00:00:03Z", st["uptime_seconds"], st["last_message_time"])
		}
		streams, _ := ca["streams"].(map[string]any)
		if len(streams) == 0 {
			t.Errorf("collector a reports no streams: %v", ca["streams"])
		}
		for k, v := range streams {
			needKeys(t, k, v, "records", "gaps", "out_of_order")
			if ss, _ := v.(map[string]any); ss["gaps"] != math.Floor(ss["records"].(float64)/2) {
				t.Errorf("stream %s: gaps %v with %v records, want half", k, ss["gaps"], ss["records"])
			}
		}
		if m := rep["manager"].(map[string]any); m["name"] != "marketetl" || m["uptime_seconds"] != 3.0 {
			t.Errorf("manager %v", m)
		}
		_, body = a.do("GET", "/api/collectors/b/health", "", "")
		var hr map[string]any
		if err := json.Unmarshal([]byte(body), &hr); err != nil {
			t.Fatal(err)
		}
		needKeys(t, "health", hr, "is_healthy", "issues", "status", "last_heartbeat", "last_data_received", "should_be_running", "is_running")
		if hr["last_heartbeat"] != nil || hr["should_be_running"] != false {
			t.Errorf("b's health: %v", hr)
		}
		a.mustStop()
	})
}

func needKeys(t *testing.T, what string, v any, keys ...string) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s is %T, want an object", what, v)
		return
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q", what, k)
		}
	}
}

func TestReadyz(t *testing.T) {
	cases := []struct {
		name     string
		dbErr    error
		behave   behaviour
		specs    int
		wantCode int
		want     string
	}{
		{name: "ready", specs: 1, wantCode: http.StatusOK, want: `"ready": true`},
		{name: "database down", dbErr: &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 5432},
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, specs: 1,
			wantCode: http.StatusServiceUnavailable, want: "database unreachable: connection_refused"},
		{name: "no collector enabled", specs: 0, wantCode: http.StatusServiceUnavailable, want: "no collector is enabled"},
		{name: "no collector healthy", behave: failing(errTransient), specs: 1,
			wantCode: http.StatusServiceUnavailable, want: "no collector is healthy: a (restarting in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAPIHarness(t, APIConfig{}, Config{})
				a.db.setErr(tc.dbErr)
				a.reads.Refresh(t.Context())
				if tc.behave != nil {
					a.f.set("a", tc.behave)
				}
				if tc.specs > 0 {
					a.start(newSpec("a"))
				} else {
					a.start()
				}
				code, body := a.do("GET", "/readyz", "", "")
				if code != tc.wantCode || !strings.Contains(body, tc.want) {
					t.Errorf("/readyz = %d %s\nwant %d with %q", code, body, tc.wantCode, tc.want)
				}
				a.mustStop()
			})
		})
	}
}

func TestAPIServeShutsDownGracefully(t *testing.T) {
	m, err := New(Config{}, newFactory().build, newRegistry(), &fakeHistory{})
	if err != nil {
		t.Fatal(err)
	}
	reads, _ := newReads(t)
	api, err := NewAPI(APIConfig{Reads: reads, Gatherer: prometheus.NewRegistry()}, m)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- api.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("/healthz = %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve = %v, want nil after a graceful shutdown", err)
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestRunStoppedWhileLoadingIsNoError: a supervisor told to stop while it
// reads its registry (the service shutting down at once) returns no
// error: the registry did not fail, the run was ended.
func TestRunStoppedWhileLoadingIsNoError(t *testing.T) {
	reg := newRegistry()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	reg.err = fmt.Errorf("read collectors: %w", ctx.Err())
	m, err := New(Config{}, newFactory().build, reg, &fakeHistory{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); err != nil {
		t.Errorf("Run stopped while loading: %v, want nil", err)
	}
	// A registry that fails while the run goes on is an error.
	reg2 := newRegistry()
	reg2.err = errors.New("read collectors: relation does not exist")
	m2, err := New(Config{}, newFactory().build, reg2, &fakeHistory{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Run(t.Context()); err == nil {
		t.Error("Run with a failing registry: nil, want the error")
	}
}

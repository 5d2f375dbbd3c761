package supervisor

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
	"marketetl/spec"
	"marketetl/store"
)

// migratedPool returns a pool on a fresh, migrated database.
func migratedPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := dbtest.NewDatabase(t)
	if err := store.Migrate(t.Context(), url, zaptest.NewLogger(t)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// service is a manager and its API over a real database, running until stop.
type service struct {
	t      *testing.T
	m      *Manager
	f      *fakeFactory
	srv    *httptest.Server
	cancel context.CancelFunc
	errc   chan error
}

func startService(t *testing.T, pool *pgxpool.Pool, yaml []spec.Collector) *service {
	t.Helper()
	s := &service{t: t, f: newFactory(), errc: make(chan error, 1)}
	m, err := New(Config{HealthCheckInterval: 100 * time.Millisecond, Log: zaptest.NewLogger(t)},
		s.f.build, store.NewRegistry(pool), store.NewStatusLog(pool))
	if err != nil {
		t.Fatal(err)
	}
	s.m = m
	ctx, cancel := context.WithCancel(t.Context())
	s.cancel = cancel
	if _, err := m.Reconcile(ctx, yaml); err != nil {
		cancel()
		t.Fatalf("Reconcile: %v", err)
	}
	go func() { s.errc <- m.Run(ctx) }()
	reads, err := NewReadCache(ReadCacheConfig{}, NewPoolReads(pool))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	reads.Refresh(ctx)
	s.srv = httptest.NewUnstartedServer(nil)
	api, err := NewAPI(APIConfig{Addr: s.srv.Listener.Addr().String(), Token: testToken, Reads: reads, Gatherer: prometheus.NewRegistry()}, m)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.srv.Config.Handler = api.Handler()
	s.srv.Start()
	return s
}

func (s *service) stop() {
	s.t.Helper()
	s.srv.Close()
	s.cancel()
	if err := <-s.errc; err != nil {
		s.t.Errorf("Run: %v", err)
	}
}

// call sends an authorised request and returns the status code and body.
func (s *service) call(method, path, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// names lists the collectors of a GET /api/collectors answer.
func (s *service) names(query string) []string {
	s.t.Helper()
	_, body := s.call("GET", "/api/collectors"+query, "")
	var l collectorList
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		s.t.Fatalf("decode %s: %v", body, err)
	}
	var out []string
	for _, c := range l.Collectors {
		out = append(out, c.Name)
	}
	return out
}

// TestRuntimeChangesSurviveARestart changes collectors through the HTTP API
// while the manager runs, checks the health history, and starts a new
// manager on the same database.
func TestRuntimeChangesSurviveARestart(t *testing.T) {
	pool := migratedPool(t)
	s := startService(t, pool, []spec.Collector{newSpec("a"), newSpec("b")})
	eventually(t, "a and b running", func() bool { return slices.Equal(s.m.Running(), []string{"a", "b"}) })

	for _, step := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/collectors/a/disable", "", http.StatusOK},
		{"POST", "/api/collectors", `{"name":"c","exchange":"coinbase","symbols":["BTC-USD"],"data_types":["trade","candle"],"timeframes":["1m"]}`, http.StatusCreated},
		{"DELETE", "/api/collectors/b", "", http.StatusOK},
	} {
		if code, body := s.call(step.method, step.path, step.body); code != step.want {
			t.Fatalf("%s %s = %d %s, want %d", step.method, step.path, code, body, step.want)
		}
	}
	changed := time.Now()
	if got := s.names("?status=running"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("running after the changes: %v, want [c]", got)
	}
	if got := s.names("?status=stopped"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("stopped after the changes: %v, want [a]", got)
	}
	if n := len(s.f.startTimes("c")); n != 1 {
		t.Errorf("c started %d times, want 1", n)
	}

	// collector_status gains one row per collector per round.
	type round struct {
		ts         time.Time
		collectors []string
		statuses   []string
	}
	rounds := func() []round {
		rows, err := pool.Query(t.Context(), `
			SELECT ts, array_agg(collector ORDER BY collector), array_agg(status ORDER BY collector)
			FROM collector_status WHERE ts > $1 GROUP BY ts ORDER BY ts`, changed)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []round
		for rows.Next() {
			var r round
			if err := rows.Scan(&r.ts, &r.collectors, &r.statuses); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	eventually(t, "three history rounds", func() bool { return len(rounds()) >= 3 })
	for _, r := range rounds() {
		if !slices.Equal(r.collectors, []string{"a", "c"}) || !slices.Equal(r.statuses, []string{"stopped", "running"}) {
			t.Errorf("round at %s: collectors %v statuses %v, want [a c] [stopped running]", r.ts, r.collectors, r.statuses)
		}
	}
	s.stop()

	// A new manager on the same database, with the file now listing a only
	// (b was deleted from it too): a stays disabled although the file says
	// enabled, c is still there.
	s2 := startService(t, pool, []spec.Collector{newSpec("a")})
	defer s2.stop()
	eventually(t, "c running again", func() bool { return slices.Equal(s2.m.Running(), []string{"c"}) })
	if got := s2.names(""); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("collectors after the restart: %v, want [a c]", got)
	}
	if code, body := s2.call("GET", "/api/collectors/a", ""); code != http.StatusOK || !strings.Contains(body, `"enabled": false`) {
		t.Errorf("a after the restart: %d %s, want disabled", code, body)
	}
	if n := len(s2.f.startTimes("a")); n != 0 {
		t.Errorf("a started %d times after the restart, want 0", n)
	}
	if code, body := s2.call("GET", "/api/collectors/c", ""); code != http.StatusOK ||
		!strings.Contains(body, `"exchange": "coinbase"`) || !strings.Contains(body, `"1m"`) {
		t.Errorf("c after the restart: %d %s", code, body)
	}
	// /readyz passes against the real database.
	if code, body := s2.call("GET", "/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}
}

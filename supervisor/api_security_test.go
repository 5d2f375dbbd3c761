package supervisor

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnauthenticatedReadsQueryNothing: a flood of /readyz, /api/status
// and /metrics requests reaches the database not once; only the read
// cache's refresh does, once per refresh.
func TestUnauthenticatedReadsQueryNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAPIHarness(t, APIConfig{Token: testToken}, Config{})
		a.start(newSpec("a"))
		if p, c := a.db.calls(); p != 1 || c != 1 {
			t.Fatalf("after one refresh: %d pings and %d gap counts, want 1 and 1", p, c)
		}
		var wg sync.WaitGroup
		for i := range 300 {
			path := []string{"/readyz", "/api/status", "/metrics"}[i%3]
			wg.Go(func() {
				if code, body := a.do("GET", path, "", ""); code != http.StatusOK {
					t.Errorf("GET %s = %d %s", path, code, body)
				}
			})
		}
		wg.Wait()
		if p, c := a.db.calls(); p != 1 || c != 1 {
			t.Errorf("after 300 requests: %d pings and %d gap counts, want still 1 and 1", p, c)
		}
		_, body := a.do("GET", "/api/status", "", "")
		if !strings.Contains(body, `"database": {`) || !strings.Contains(body, `"open": 2`) {
			t.Errorf("/api/status lacks the cached database state and gap counts:\n%s", body)
		}
		a.reads.Refresh(t.Context())
		if p, c := a.db.calls(); p != 2 || c != 2 {
			t.Errorf("after a second refresh: %d pings and %d gap counts, want 2 and 2", p, c)
		}
		a.mustStop()
	})
}

// TestBearerSchemeIsCaseInsensitive: the scheme's name is
// case-insensitive (RFC 9110 section 11.1); the credentials are not.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	cases := []struct {
		header string
		want   int
	}{
		{"Bearer " + testToken, http.StatusAccepted},
		{"bearer " + testToken, http.StatusAccepted},
		{"BEARER " + testToken, http.StatusAccepted},
		{"bEaReR   " + testToken + " ", http.StatusAccepted},
		{"Bearer " + strings.ToUpper(testToken), http.StatusUnauthorized},
		{"Basic " + testToken, http.StatusUnauthorized},
		{"Bearer" + testToken, http.StatusUnauthorized},
		{testToken, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAPIHarness(t, APIConfig{Token: testToken}, Config{})
				a.start(newSpec("a"))
				req := httptest.NewRequest("POST", "/api/restart-all", nil)
				req.Host = "127.0.0.1:8080"
				req.Header.Set("Authorization", tc.header)
				rec := httptest.NewRecorder()
				a.api.Handler().ServeHTTP(rec, req)
				if rec.Code != tc.want {
					t.Errorf("Authorization %q: %d %s, want %d", tc.header, rec.Code, rec.Body, tc.want)
				}
				a.mustStop()
			})
		})
	}
}

// TestHostCheckOnLoopback: a loopback server answers only requests whose
// Host is localhost, 127.0.0.1 or [::1] with its port, so that a web page
// rebinding its own name to 127.0.0.1 (DNS rebinding) is refused; a server
// on another address (which requires a token) does not check Host.
func TestHostCheckOnLoopback(t *testing.T) {
	cases := []struct {
		addr, host string
		want       int
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", http.StatusOK},
		{"127.0.0.1:8080", "localhost:8080", http.StatusOK},
		{"127.0.0.1:8080", "LocalHost:8080", http.StatusOK},
		{"127.0.0.1:8080", "[::1]:8080", http.StatusOK},
		{"127.0.0.1:8080", "attacker.example:8080", http.StatusMisdirectedRequest},
		{"127.0.0.1:8080", "attacker.example", http.StatusMisdirectedRequest},
		{"127.0.0.1:8080", "127.0.0.1:9999", http.StatusMisdirectedRequest},
		{"127.0.0.1:8080", "localhost", http.StatusMisdirectedRequest},
		{"127.0.0.1:8080", "127.0.0.2:8080", http.StatusMisdirectedRequest},
		{"127.0.0.1:80", "localhost", http.StatusOK},
		{"localhost:8080", "localhost:8080", http.StatusOK},
		{"0.0.0.0:8080", "attacker.example:8080", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.addr+" Host "+tc.host, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAPIHarness(t, APIConfig{Addr: tc.addr, Token: testToken}, Config{})
				a.start(newSpec("a"))
				for _, r := range []struct{ method, path string }{{"GET", "/api/status"}, {"POST", "/api/collectors/a/restart"}} {
					req := httptest.NewRequest(r.method, r.path, nil)
					req.Host = tc.host
					req.Header.Set("Authorization", "Bearer "+testToken)
					rec := httptest.NewRecorder()
					a.api.Handler().ServeHTTP(rec, req)
					want := tc.want
					if want == http.StatusOK && r.method == "POST" {
						want = http.StatusAccepted
					}
					if rec.Code != want {
						t.Errorf("%s %s with Host %q: %d %s, want %d", r.method, r.path, tc.host, rec.Code, rec.Body, want)
					}
				}
				a.mustStop()
			})
		})
	}
}

// TestStatusHidesDriverText: the status reports say what kind of database
// failure happened, never the driver's text, which names the host, the
// user and the database.
func TestStatusHidesDriverText(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAPIHarness(t, APIConfig{Token: testToken}, Config{})
		a.f.set("a", failing(errors.New("resume streams: failed to connect to `user=etl_writer database=market_prod`: "+
			"10.9.8.7:5432 (db.internal): dial error: dial tcp 10.9.8.7:5432: connect: connection refused")))
		a.start(newSpec("a"))
		a.db.setErr(&pgconn.PgError{Severity: "FATAL", Code: "28P01",
			Message: `password authentication failed for user "etl_reader" on db.internal`})
		a.reads.Refresh(t.Context())
		for _, path := range []string{"/api/status", "/readyz", "/api/collectors", "/api/collectors/a"} {
			_, body := a.do("GET", path, "", "")
			for _, leak := range []string{"etl_writer", "etl_reader", "market_prod", "10.9.8.7", "db.internal"} {
				if strings.Contains(body, leak) {
					t.Errorf("GET %s shows %q:\n%s", path, leak, body)
				}
			}
		}
		_, body := a.do("GET", "/api/status", "", "")
		for _, want := range []string{`"state": "unreachable"`, `"error": "authentication_failed"`, "failed to connect to the database"} {
			if !strings.Contains(body, want) {
				t.Errorf("/api/status lacks %q:\n%s", want, body)
			}
		}
		a.mustStop()
	})
}

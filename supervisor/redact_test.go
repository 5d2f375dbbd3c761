package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedactor(t *testing.T) {
	r := newRedactor([]string{"tok-listed-secret", "ab", ""})
	cases := []struct{ name, in, want string }{
		{"listed secret", "bad token tok-listed-secret here", "bad token [REDACTED] here"},
		{"URL password", "connect postgres://etl:hunter2@db:5432/x failed", "connect postgres://etl:[REDACTED]@db:5432/x failed"},
		{"URL password with odd characters", "redis://:p%40ss:word@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"},
		{"URL without password", "dial wss://ws.okx.com:8443/ws/v5/public", "dial wss://ws.okx.com:8443/ws/v5/public"},
		{"key=value password", "host=db user=etl password=hunter2 dbname=x", "host=db user=etl password=[REDACTED] dbname=x"},
		{"quoted key=value password", "password='hunter 2' host=db", "password=[REDACTED] host=db"},
		{"api key", "GET /x?api_key=abc123", "GET /x?api_key=[REDACTED]"},
		{"short values are not secrets", "a cab", "a cab"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.text(tc.in); got != tc.want {
				t.Errorf("text(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestSecretsNeverLeak provokes errors that carry secrets and looks for
// them in the logs, the API's answers, the metrics and the history rows.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		adminToken = "tok-SECRET-7f3a9c51e2"
		dbPassword = "pw-SECRET-91bd44"
		dbURL      = "postgres://etl:" + dbPassword + "@db.internal:5432/marketetl?sslmode=require"
	)
	secrets := []string{adminToken, dbPassword}
	synctest.Test(t, func(t *testing.T) {
		// Only the admin token is listed; the database password is found
		// because it is in a URL.
		a := newAPIHarness(t, APIConfig{Token: adminToken}, Config{Secrets: []string{adminToken}})
		leaky := fmt.Errorf("store records: connect %s: %w", dbURL, errTransient)
		a.f.set("a", func(ctx context.Context, r *fakeRunner) error {
			r.connect()
			r.fail("write failed for " + dbURL + " with token " + adminToken)
			return leaky
		})
		a.f.set("b", failing(fmt.Errorf("config: password=%s: %w", dbPassword, errBadConfig)))
		a.db.err = errors.New("failed to connect to " + dbURL)
		a.start(newSpec("a"), newSpec("b"), newSpec("c"))
		time.Sleep(31 * time.Second)
		synctest.Wait()

		var answers []string
		collect := func(method, path, token, body string) {
			_, b := a.do(method, path, token, body)
			answers = append(answers, b)
		}
		collect("GET", "/api/status", "", "")
		collect("GET", "/api/collectors", "", "")
		collect("GET", "/api/collectors/a", "", "")
		collect("GET", "/api/collectors/a/health", "", "")
		collect("GET", "/readyz", "", "")
		collect("GET", "/metrics", "", "")
		collect("POST", "/api/collectors/c/disable", "wrong-"+adminToken, "")
		collect("POST", "/api/collectors/c/disable", adminToken, "")
		collect("POST", "/api/collectors", adminToken, `{"name":"d","exchange":"okx","symbols":["BTC-USDT"],"data_types":["trade"],"x":"`+adminToken+`"}`)
		a.mustStop()

		var logs []string
		for _, l := range append(a.logs.All(), a.apiLogs.All()...) {
			logs = append(logs, renderEntry(l))
		}
		var rows []string
		for _, round := range a.hist.allRounds() {
			rows = append(rows, fmt.Sprintf("%+v", round))
		}
		if len(rows) == 0 || len(logs) == 0 {
			t.Fatal("nothing was written: the test would prove nothing")
		}
		// The errors did reach every output, redacted.
		if !strings.Contains(strings.Join(answers, ""), "postgres://etl:[REDACTED]@db.internal") ||
			!strings.Contains(strings.Join(rows, ""), "[REDACTED]") {
			t.Error("the provoked errors are not in the outputs: the test would prove nothing")
		}
		for _, out := range []struct {
			what  string
			texts []string
		}{{"API answers and metrics", answers}, {"logs", logs}, {"history rows", rows}} {
			for _, text := range out.texts {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("%s contain the secret %q:\n%s", out.what, s, text)
					}
				}
			}
		}
	})
}

// renderEntry renders a log entry with all its fields.
func renderEntry(l observer.LoggedEntry) string {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range l.Context {
		f.AddTo(enc)
	}
	return fmt.Sprintf("%s %v", l.Message, enc.Fields)
}

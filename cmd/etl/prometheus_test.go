package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file runs the distribution's Prometheus (Debian package
// prometheus, installed by .ci/run) against the service of
// TestDashboardQueries, so that every PromQL query of the dashboards and
// every alerting rule is parsed and evaluated by Prometheus itself on what
// the service exposed, not only matched against metric names.

const promRuleFile = "../../deploy/prometheus/alerts.yml"

// prometheusBins returns the paths of prometheus and promtool, or ok
// false when they are not installed.
func prometheusBins() (prom, promtool string, ok bool) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		return "", "", false
	}
	promtool, err = exec.LookPath("promtool")
	return prom, promtool, err == nil
}

// promServer is a Prometheus started for one test.
type promServer struct {
	api string // base URL of its HTTP API
}

// startPrometheus starts Prometheus scraping target's /metrics every
// second, with the repository's alerting rules evaluated every second. It
// also checks the repository's configuration and rules with promtool. The
// process ends with the test. Without Prometheus installed it says so and
// returns nil: the PromQL queries are then only checked against the names
// /metrics exposes.
func startPrometheus(t *testing.T, target string) *promServer {
	t.Helper()
	prom, promtool, ok := prometheusBins()
	if !ok {
		t.Log("prometheus is not installed (apt-get install prometheus; .ci/run installs it): PromQL is checked against /metrics names only")
		return nil
	}
	dir := t.TempDir()
	rules, err := os.ReadFile(promRuleFile)
	if err != nil {
		t.Fatal(err)
	}
	rulePath := filepath.Join(dir, "alerts.yml")
	if err := os.WriteFile(rulePath, rules, 0o600); err != nil {
		t.Fatal(err)
	}
	// The repository's configuration, with the rule file where this test
	// put it: promtool checks both as Prometheus would load them.
	shipped, err := os.ReadFile("../../deploy/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(shipped), "/etc/prometheus/alerts.yml") {
		t.Fatal("deploy/prometheus/prometheus.yml does not load /etc/prometheus/alerts.yml")
	}
	shippedPath := filepath.Join(dir, "shipped.yml")
	if err := os.WriteFile(shippedPath, []byte(strings.ReplaceAll(string(shipped), "/etc/prometheus/alerts.yml", rulePath)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", rulePath}, {"check", "config", shippedPath}} {
		if out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: marketetl
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, rulePath, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var out syncBuffer
	cmd := exec.Command(prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // received by the cleanup below
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	p := &promServer{api: "http://" + addr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(p.api + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("prometheus exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after a minute:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond) // polling a condition
	}
}

// promAnswer is the envelope of Prometheus's HTTP API.
type promAnswer struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func (p *promServer) get(ctx context.Context, path string, q url.Values) (promAnswer, error) {
	var a promAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.api+path+"?"+q.Encode(), nil)
	if err != nil {
		return a, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return a, fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if a.Status != "success" {
		return a, fmt.Errorf("%s: %s: %s", a.ErrorType, a.Error, resp.Status)
	}
	return a, nil
}

// series evaluates expr over [from, to] every second, with Grafana's
// $__rate_interval as Grafana sets it for a 1 s scrape (four scrapes),
// and returns how many series it yields.
func (p *promServer) series(ctx context.Context, expr string, from, to time.Time) (int, error) {
	expr = strings.ReplaceAll(expr, "$__rate_interval", "4s")
	a, err := p.get(ctx, "/api/v1/query_range", url.Values{
		"query": {expr}, "start": {fmt.Sprint(from.Unix())}, "end": {fmt.Sprint(to.Unix())}, "step": {"1"},
	})
	if err != nil {
		return 0, err
	}
	var d struct {
		Result []json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(a.Data, &d); err != nil {
		return 0, err
	}
	return len(d.Result), nil
}

// waitScraped waits until Prometheus has scraped the service n times
// successfully.
func (p *promServer) waitScraped(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		a, err := p.get(t.Context(), "/api/v1/query", url.Values{"query": {`sum_over_time(up{job="marketetl"}[10m])`}})
		if err == nil {
			var d struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			}
			if json.Unmarshal(a.Data, &d) == nil && len(d.Result) == 1 {
				if s, ok := d.Result[0].Value[1].(string); ok {
					if v, err := strconv.ParseFloat(s, 64); err == nil && v >= float64(n) {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not scrape the service %d times: %v", n, err)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition
	}
}

// checkRules checks that Prometheus loaded every alerting rule of the
// repository and evaluated each without error.
func (p *promServer) checkRules(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, err := p.get(t.Context(), "/api/v1/rules", url.Values{"type": {"alert"}})
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Groups []struct {
				Rules []struct {
					Name           string `json:"name"`
					Health         string `json:"health"`
					LastError      string `json:"lastError"`
					LastEvaluation string `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := json.Unmarshal(a.Data, &d); err != nil {
			t.Fatal(err)
		}
		n, pending := 0, 0
		var bad []string
		for _, g := range d.Groups {
			for _, r := range g.Rules {
				n++
				switch r.Health {
				case "ok":
				case "unknown":
					pending++ // not evaluated yet
				default:
					bad = append(bad, r.Name+": "+r.Health+": "+r.LastError)
				}
			}
		}
		if len(bad) > 0 {
			t.Fatalf("alerting rules Prometheus could not evaluate:\n%s", strings.Join(bad, "\n"))
		}
		if n > 0 && pending == 0 {
			t.Logf("prometheus evaluated %d alerting rules without error", n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus loaded %d alerting rules, %d not evaluated after a minute", n, pending)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition
	}
}

package main

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"marketetl/spec"
)

// alertRules is deploy/prometheus/alerts.yml in Prometheus's rule file
// format.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// checkAlertRules parses the alerting rules strictly (an unknown key is an
// error, as in Prometheus), checks each rule's shape, and that its
// expression names only metrics in exposed (besides Prometheus's own up).
func checkAlertRules(t *testing.T, exposed map[string]bool) {
	data, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	n := 0
	seen := map[string]bool{}
	for _, g := range rules.Groups {
		if g.Name == "" {
			t.Error("a rule group without a name")
		}
		for _, r := range g.Rules {
			n++
			t.Run("alert/"+r.Alert, func(t *testing.T) {
				if r.Alert == "" || seen[r.Alert] {
					t.Errorf("alert name %q empty or repeated", r.Alert)
				}
				seen[r.Alert] = true
				if r.For != "" {
					if _, err := spec.ParseDuration(r.For); err != nil {
						t.Errorf("for: %v", err)
					}
				}
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("severity %q: want warning or critical", s)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Error("summary and description annotations are required")
				}
				if !balanced(r.Expr) {
					t.Errorf("unbalanced brackets in %q", r.Expr)
				}
				ms := promMetrics(r.Expr)
				if len(ms) == 0 && !strings.Contains(r.Expr, `up{job="marketetl"}`) {
					t.Errorf("%q names no metric of the service", r.Expr)
				}
				for _, m := range ms {
					if !exposed[m] {
						t.Errorf("%q reads %s, which /metrics does not expose", r.Expr, m)
					}
				}
			})
		}
	}
	if n < 10 {
		t.Errorf("%d alerting rules: the file was not read", n)
	}
}

// balanced reports whether the brackets of a PromQL expression match.
func balanced(expr string) bool {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inString := false
	for _, c := range expr {
		switch {
		case c == '"':
			inString = !inString
		case inString:
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pairs[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0 && !inString
}

func TestBalanced(t *testing.T) {
	for expr, want := range map[string]bool{
		`rate(x{a="b"}[5m])`: true, `rate(x[5m]`: false, `x{a=")"}`: true, `(]`: false,
	} {
		if got := balanced(expr); got != want {
			t.Errorf("balanced(%q) = %v", expr, got)
		}
	}
}

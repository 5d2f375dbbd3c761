package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"marketetl/cluster"
)

// This file reads the provisioned Grafana dashboards and expands their SQL
// as Grafana's PostgreSQL datasource does, for dashboards_test.go.

const dashboardsDir = "../../deploy/grafana/dashboards"

// grafanaDashboard is the part of a dashboard's JSON the tests read.
type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	Type        string            `json:"type"`
	Title       string            `json:"title"`
	Datasource  grafanaDatasource `json:"datasource"`
	Targets     []grafanaTarget   `json:"targets"`
	Panels      []grafanaPanel    `json:"panels"`
	FieldConfig struct {
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options any    `json:"options"`
			} `json:"matcher"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Options struct {
		Fields map[string]string `json:"fields"`
		XField string            `json:"xField"`
	} `json:"options"`
	Transformations []struct {
		ID      string `json:"id"`
		Options struct {
			Fields []string `json:"fields"`
		} `json:"options"`
	} `json:"transformations"`
}

type grafanaTarget struct {
	RefID      string            `json:"refId"`
	Datasource grafanaDatasource `json:"datasource"`
	Format     string            `json:"format"`
	RawSQL     string            `json:"rawSql"`
	Expr       string            `json:"expr"`
}

type grafanaVariable struct {
	Type       string            `json:"type"`
	Name       string            `json:"name"`
	Datasource grafanaDatasource `json:"datasource"`
	Query      string            `json:"query"`
}

const (
	postgresDatasource   = "grafana-postgresql-datasource"
	prometheusDatasource = "prometheus"
)

// loadDashboards reads every dashboard file, by file name.
func loadDashboards(t *testing.T) map[string]grafanaDashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardsDir, err)
	}
	out := map[string]grafanaDashboard{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// flatPanels lists the panels, those inside collapsed rows included.
func flatPanels(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatPanels(p.Panels)...)
	}
	return out
}

// grafanaQuery is the context Grafana expands a query in.
type grafanaQuery struct {
	From, To time.Time
	// Interval is $__interval.
	Interval time.Duration
	// TimescaleDB is the datasource's TimescaleDB switch: $__timeGroup
	// becomes time_bucket().
	TimescaleDB bool
	// Vars are the template variables' current values (single-valued).
	Vars map[string]string
}

var (
	macroRE = regexp.MustCompile(`\$__(\w+)\(([^()]*)\)`)
	varRE   = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]`)
)

// formatInterval writes d as Grafana does for $__interval (1m, 30s, 1h, 1d).
func formatInterval(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

// parseInterval reads an interval argument ('5m', '1d', '$__interval'
// already replaced).
func parseInterval(s string) (time.Duration, error) {
	s = strings.Trim(strings.TrimSpace(s), `'"`)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.Atoi(n)
		return time.Duration(v) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

// expand replaces Grafana's global variables, template variables and
// PostgreSQL macros in q, as the datasource does before sending it
// (Grafana: pkg/tsdb/grafana-postgresql-datasource/macros.go).
func (g grafanaQuery) expand(q string) (string, error) {
	q = strings.NewReplacer("$__interval_ms", strconv.FormatInt(g.Interval.Milliseconds(), 10),
		"${__interval}", formatInterval(g.Interval), "$__interval", formatInterval(g.Interval)).Replace(q)
	var err error
	q = macroRE.ReplaceAllStringFunc(q, func(m string) string {
		sub := macroRE.FindStringSubmatch(m)
		name, args := sub[1], splitArgs(sub[2])
		out, e := g.macro(name, args)
		if e != nil && err == nil {
			err = fmt.Errorf("%s: %w", m, e)
		}
		return out
	})
	if err != nil {
		return "", err
	}
	var missing []string
	q = varRE.ReplaceAllStringFunc(q, func(m string) string {
		sub := varRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		v, ok := g.Vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return strings.ReplaceAll(v, "'", "''")
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("undefined variables %v", missing)
	}
	return q, nil
}

func splitArgs(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func (g grafanaQuery) macro(name string, args []string) (string, error) {
	ts := func(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339Nano) + "'" }
	need := func(n int) error {
		if len(args) < n {
			return fmt.Errorf("macro %s needs %d arguments, got %d", name, n, len(args))
		}
		return nil
	}
	switch name {
	case "time":
		if err := need(1); err != nil {
			return "", err
		}
		return args[0] + ` AS "time"`, nil
	case "timeEpoch":
		if err := need(1); err != nil {
			return "", err
		}
		return "extract(epoch from " + args[0] + `) as "time"`, nil
	case "timeFilter":
		if err := need(1); err != nil {
			return "", err
		}
		return args[0] + " BETWEEN " + ts(g.From) + " AND " + ts(g.To), nil
	case "timeFrom":
		return ts(g.From), nil
	case "timeTo":
		return ts(g.To), nil
	case "timeGroup", "timeGroupAlias":
		if err := need(2); err != nil {
			return "", err
		}
		d, err := parseInterval(args[1])
		if err != nil || d <= 0 {
			return "", fmt.Errorf("interval %q: %v", args[1], err)
		}
		var out string
		if g.TimescaleDB {
			out = fmt.Sprintf("time_bucket('%.0fs',%s)", d.Seconds(), args[0])
		} else {
			out = fmt.Sprintf("floor(extract(epoch from %s)/%v)*%v", args[0], d.Seconds(), d.Seconds())
		}
		if name == "timeGroupAlias" {
			out += ` AS "time"`
		}
		return out, nil
	case "unixEpochFilter":
		if err := need(1); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s >= %d AND %s <= %d", args[0], g.From.Unix(), args[0], g.To.Unix()), nil
	}
	return "", fmt.Errorf("macro $__%s is not one the tests expand", name)
}

// promMetricRE finds the service's metric names in a PromQL expression.
var promMetricRE = regexp.MustCompile(`\b(?:etl|go|process)_[a-zA-Z0-9_]+\b`)

// promMetrics returns the metric names an expression reads.
func promMetrics(expr string) []string {
	seen := map[string]bool{}
	for _, m := range promMetricRE.FindAllString(expr, -1) {
		seen[m] = true
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func TestGrafanaMacrosExpandAsTheDatasourceDoes(t *testing.T) {
	from := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	g := grafanaQuery{From: from, To: from.Add(time.Hour), Interval: time.Minute, Vars: map[string]string{"exchange": "okx", "sym": "O'X"}}
	tests := []struct {
		name, in, want string
		tsdb           bool
	}{
		{name: "time filter", in: "WHERE $__timeFilter(ts)", want: "WHERE ts BETWEEN '2026-01-02T03:04:05Z' AND '2026-01-02T04:04:05Z'"},
		{name: "time group alias plain", in: "SELECT $__timeGroupAlias(ts, '5m')", want: `SELECT floor(extract(epoch from ts)/300)*300 AS "time"`},
		{name: "time group timescaledb", in: "SELECT $__timeGroup(ts, $__interval)", tsdb: true, want: "SELECT time_bucket('60s',ts)"},
		{name: "interval literal", in: "INTERVAL '$__interval'", want: "INTERVAL '1m'"},
		{name: "variables", in: "x = '$exchange' AND y = '${sym}'", want: "x = 'okx' AND y = 'O''X'"},
		{name: "from and to", in: "$__timeFrom() $__timeTo()", want: "'2026-01-02T03:04:05Z' '2026-01-02T04:04:05Z'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g.TimescaleDB = tc.tsdb
			got, err := g.expand(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := g.expand("WHERE s = '$nope'"); err == nil {
		t.Error("an undefined variable expands without an error")
	}
	if got := promMetrics(`histogram_quantile(0.99, sum by (le) (rate(etl_store_flush_duration_seconds_bucket[5m]))) / etl_x`); strings.Join(got, " ") != "etl_store_flush_duration_seconds_bucket etl_x" {
		t.Errorf("promMetrics = %v", got)
	}
}

// TestDashboardsProvisionable checks what Grafana's file provisioning
// needs of each dashboard and what makes it usable once loaded: a unique
// uid and title, a schema version, panels with unique ids laid out on the
// 24-column grid without overlapping, and datasources that are the
// provisioned ones (by uid and type).
func TestDashboardsProvisionable(t *testing.T) {
	data, err := os.ReadFile("../../deploy/grafana/provisioning/datasources/marketetl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(data, &prov); err != nil {
		t.Fatal(err)
	}
	provisioned := map[string]string{}
	for _, ds := range prov.Datasources {
		provisioned[ds.UID] = ds.Type
	}
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) < 5 {
		t.Fatalf("dashboards in %s: %v, %v", dashboardsDir, files, err)
	}
	uids, titles := map[string]string{}, map[string]string{}
	for _, f := range files {
		name := filepath.Base(f)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID           string         `json:"uid"`
			Title         string         `json:"title"`
			SchemaVersion int            `json:"schemaVersion"`
			Panels        []layoutPanel  `json:"panels"`
			Templating    map[string]any `json:"templating"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.UID == "" || len(d.UID) > 40 || uids[d.UID] != "" {
			t.Errorf("%s: uid %q empty, longer than 40 characters or also in %s", name, d.UID, uids[d.UID])
		}
		uids[d.UID] = name
		if d.Title == "" || titles[d.Title] != "" {
			t.Errorf("%s: title %q empty or also in %s", name, d.Title, titles[d.Title])
		}
		titles[d.Title] = name
		if d.SchemaVersion == 0 {
			t.Errorf("%s: no schemaVersion", name)
		}
		checkLayout(t, name, d.Panels, provisioned)
	}
}

// layoutPanel is the part of a panel its placement and datasources need.
type layoutPanel struct {
	ID         int               `json:"id"`
	Type       string            `json:"type"`
	Title      string            `json:"title"`
	Datasource grafanaDatasource `json:"datasource"`
	Targets    []struct {
		Datasource grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Panels []layoutPanel `json:"panels"`
}

// checkLayout checks a dashboard's panels: unique ids, on the grid, no two
// overlapping, datasources among the provisioned ones.
func checkLayout(t *testing.T, file string, panels []layoutPanel, provisioned map[string]string) {
	t.Helper()
	ids := map[int]bool{}
	var placed []layoutPanel
	var walk func(ps []layoutPanel)
	walk = func(ps []layoutPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.ID <= 0 || ids[p.ID] {
				t.Errorf("%s/%s: panel id %d missing or repeated", file, p.Title, p.ID)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("%s/%s: gridPos %+v is off the 24-column grid", file, p.Title, g)
			}
			for _, q := range placed {
				h := q.GridPos
				if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
					t.Errorf("%s: panels %q and %q overlap (%+v, %+v)", file, q.Title, p.Title, h, g)
				}
			}
			placed = append(placed, p)
			dss := []grafanaDatasource{p.Datasource}
			for _, tg := range p.Targets {
				dss = append(dss, tg.Datasource)
			}
			for _, ds := range dss {
				if ds.UID == "" && ds.Type == "" {
					continue // a row or a text panel, or the panel's own
				}
				if typ, ok := provisioned[ds.UID]; !ok || typ != ds.Type {
					t.Errorf("%s/%s: datasource %+v is not a provisioned one", file, p.Title, ds)
				}
			}
			if p.Type != "row" && p.Type != "text" && p.Datasource.UID == "" {
				t.Errorf("%s/%s: a %s panel without a datasource", file, p.Title, p.Type)
			}
		}
	}
	walk(panels)
}

// A dashboard query that reads the cluster's locks from pg_locks names the
// instance lock namespace the service uses, so that changing it there
// cannot leave a panel quietly showing every instance dead.
func TestDashboardLockNamespace(t *testing.T) {
	want := "l.classid::bigint = " + strconv.Itoa(int(cluster.InstanceLockNamespace))
	found := 0
	for file, d := range loadDashboards(t) {
		for _, p := range flatPanels(d.Panels) {
			for _, tg := range p.Targets {
				if !strings.Contains(tg.RawSQL, "pg_locks") {
					continue
				}
				found++
				if !strings.Contains(tg.RawSQL, want) {
					t.Errorf("%s/%s reads pg_locks without %q", file, p.Title, want)
				}
			}
		}
	}
	if found == 0 {
		t.Error("no dashboard query reads pg_locks: the cluster panel is gone, or this test is stale")
	}
}

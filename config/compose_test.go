package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDockerComposeIsValid parses docker-compose.yml (it cannot run here)
// and checks the stack's shape and that every variable it gives the
// service is one the service reads.
func TestDockerComposeIsValid(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Command     []string `yaml:"command"`
			Volumes     []string `yaml:"volumes"`
			Healthcheck *struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"timescaledb", "redis", "grafana", "marketetl"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	if img := compose.Services["timescaledb"].Image; !strings.HasPrefix(img, "timescale/timescaledb:") {
		t.Errorf("timescaledb image %q: want the official timescale/timescaledb image", img)
	}
	svc := compose.Services["marketetl"]
	if svc.Build == nil {
		t.Error("marketetl is not built from the Dockerfile")
	}
	// The image's SPOOL_DIR (Dockerfile) is a named volume, so that the
	// spool outlives the container.
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	const spoolEnv = "ENV SPOOL_DIR="
	i := strings.Index(string(dockerfile), spoolEnv)
	if i < 0 {
		t.Fatal("Dockerfile sets no SPOOL_DIR")
	}
	spoolDir, _, _ := strings.Cut(string(dockerfile)[i+len(spoolEnv):], "\n")
	mounted := false
	for _, v := range svc.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		if dst == spoolDir && hasKey(compose.Volumes, src) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("marketetl mounts no named volume at the image's SPOOL_DIR %s: %v", spoolDir, svc.Volumes)
	}
	known := map[string]bool{}
	for _, v := range Variables() {
		known[v.Name] = true
	}
	for k := range svc.Environment {
		if !known[k] {
			t.Errorf("marketetl environment sets %s, which the service does not read", k)
		}
	}
	for _, need := range []string{"DATABASE_URL", "REDIS_URL", "ETL_ADMIN_TOKEN", "ETL_ADMIN_ADDR"} {
		if _, ok := svc.Environment[need]; !ok {
			t.Errorf("marketetl environment lacks %s", need)
		}
	}
	if !strings.Contains(svc.Environment["DATABASE_URL"], "@timescaledb:5432/") || !strings.Contains(svc.Environment["REDIS_URL"], "//redis:6379") {
		t.Errorf("service URLs do not point at the compose services: %v", svc.Environment)
	}
	for _, dep := range []string{"timescaledb", "redis"} {
		if svc.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("marketetl should wait for %s to be healthy", dep)
		}
		if compose.Services[dep].Healthcheck == nil {
			t.Errorf("%s has no healthcheck", dep)
		}
	}
	if strings.Join(svc.Command, " ") != "run --migrate" {
		t.Errorf("marketetl command %v: want run --migrate", svc.Command)
	}
	if _, err := os.Stat(filepath.Join(repoRoot(t), "Dockerfile")); err != nil {
		t.Errorf("Dockerfile: %v", err)
	}
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// composeFile is the part of docker-compose.yml the stack test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Ports       []string `yaml:"ports"`
		Volumes     []string `yaml:"volumes"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// TestComposeStackIsConsistent checks what makes `docker compose up` start
// (the Docker engine is not available to the tests): every variable the
// file interpolates is in env.template, a copied env.template overrides
// none of the image's settings, every named volume of the service is a
// directory the image's user owns, every bind mount exists and is read
// only, every dependency waits for a health check, and the ports agree
// between the Dockerfile, the service's settings, Prometheus's scrape
// target and Grafana's datasources.
func TestComposeStackIsConsistent(t *testing.T) {
	root := repoRoot(t)
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	raw := read("docker-compose.yml")
	var c composeFile
	if err := yaml.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}

	// env.template: the values compose requires are there, uncommented;
	// the service's own settings are all commented out.
	template := read("env.template")
	set := map[string]bool{}
	for _, l := range strings.Split(template, "\n") {
		if k, _, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			set[strings.TrimSpace(k)] = true
		}
	}
	for _, m := range regexp.MustCompile(`\$\{(\w+)(:?[-?][^}]*)?\}`).FindAllStringSubmatch(raw, -1) {
		name, mod := m[1], m[2]
		if strings.HasPrefix(mod, ":-") || strings.HasPrefix(mod, "-") {
			continue // has a default
		}
		if !set[name] {
			t.Errorf("docker-compose.yml needs ${%s}, which env.template does not set for .env", name)
		}
	}
	for _, v := range Variables() {
		if set[v.Name] && !(v.Secret && v.Default == "") {
			t.Errorf("env.template sets %s uncommented: a .env copied from it would override the image's %s", v.Name, v.Name)
		}
	}
	for _, v := range ComposeVariables() {
		if !set[v.Name] || !strings.Contains(raw, "${"+v.Name) {
			t.Errorf("%s: in env.template %v, used by docker-compose.yml %v", v.Name, set[v.Name], strings.Contains(raw, "${"+v.Name))
		}
	}

	// The image: its user, the directories it owns, its port.
	dockerfile := read("Dockerfile")
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(dockerfile)
	if user == nil || user[1] == "root" || user[1] == "0" {
		t.Fatalf("the image runs as %v: want a non-root USER", user)
	}
	owned := map[string]bool{}
	for _, m := range regexp.MustCompile(`chown\s+`+regexp.QuoteMeta(user[1])+`(?::\S+)?\s+(\S+)`).FindAllStringSubmatch(dockerfile, -1) {
		owned[m[1]] = true
	}
	spoolDir := regexp.MustCompile(`(?m)^ENV SPOOL_DIR=(\S+)`).FindStringSubmatch(dockerfile)
	if spoolDir == nil || !owned[spoolDir[1]] {
		t.Errorf("the image's SPOOL_DIR %v is not owned by its user %s", spoolDir, user[1])
	}
	expose := regexp.MustCompile(`(?m)^EXPOSE\s+(\d+)`).FindStringSubmatch(dockerfile)

	svc := c.Services["marketetl"]
	if spoolDir != nil && svc.Environment["SPOOL_DIR"] != spoolDir[1] {
		t.Errorf("marketetl's SPOOL_DIR %q: want the image's %s, so that .env cannot move the spool off its volume", svc.Environment["SPOOL_DIR"], spoolDir[1])
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			src, dst := parts[0], parts[1]
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s mounts %s, which is not in the repository: %v", name, src, err)
				}
				if len(parts) < 3 || parts[2] != "ro" {
					t.Errorf("%s: bind mount %s should be read-only", name, v)
				}
				continue
			}
			if !hasKey(c.Volumes, src) {
				t.Errorf("%s mounts volume %s, which is not declared", name, src)
			}
			if name == "marketetl" && !owned[dst] {
				t.Errorf("marketetl mounts volume %s at %s, which the image does not give its user %s (a new volume takes the directory's owner)", src, dst, user[1])
			}
		}
	}

	// Every dependency waits for a health check; every service has one.
	for name, s := range c.Services {
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
		for dep, d := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok || d.Condition != "service_healthy" {
				t.Errorf("%s depends on %s without waiting for it to be healthy", name, dep)
			}
		}
	}
	for _, want := range []string{"timescaledb", "redis", "marketetl", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}

	// Ports: the admin API's port is the one exposed, published and scraped.
	_, adminPort, _ := strings.Cut(svc.Environment["ETL_ADMIN_ADDR"], ":")
	if expose == nil || expose[1] != adminPort {
		t.Errorf("ETL_ADMIN_ADDR port %s, Dockerfile EXPOSE %v", adminPort, expose)
	}
	published := func(name, port string) bool {
		for _, p := range c.Services[name].Ports {
			if strings.HasSuffix(p, ":"+port) && strings.HasPrefix(p, "127.0.0.1:") {
				return true
			}
		}
		return false
	}
	for name, port := range map[string]string{"marketetl": adminPort, "grafana": "3000", "prometheus": "9090"} {
		if !published(name, port) {
			t.Errorf("%s does not publish port %s on 127.0.0.1: %v", name, port, c.Services[name].Ports)
		}
	}
	if prom := read("deploy/prometheus/prometheus.yml"); !strings.Contains(prom, `"marketetl:`+adminPort+`"`) ||
		!strings.Contains(prom, "/etc/prometheus/alerts.yml") {
		t.Errorf("prometheus.yml does not scrape marketetl:%s or load /etc/prometheus/alerts.yml", adminPort)
	}
	ds := read("deploy/grafana/provisioning/datasources/marketetl.yaml")
	for _, want := range []string{"url: timescaledb:5432", "url: http://prometheus:9090", "${POSTGRES_PASSWORD}", "timescaledb: true"} {
		if !strings.Contains(ds, want) {
			t.Errorf("the Grafana datasources lack %q", want)
		}
	}
	if _, ok := c.Services["grafana"].Environment["POSTGRES_PASSWORD"]; !ok {
		t.Error("grafana lacks POSTGRES_PASSWORD, which its datasource provisioning reads")
	}
	provider := read("deploy/grafana/provisioning/dashboards/marketetl.yaml")
	if !strings.Contains(provider, "path: /var/lib/grafana/dashboards/marketetl") ||
		!slices.Contains(c.Services["grafana"].Volumes, "./deploy/grafana/dashboards:/var/lib/grafana/dashboards/marketetl:ro") {
		t.Error("Grafana's dashboard provider and the dashboards' mount disagree")
	}
}

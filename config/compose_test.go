package config

import (
	"os"
	"path/filepath"
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

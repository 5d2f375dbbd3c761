package spec

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestLowerPackagesDoNotImportTheCollector keeps the layering that moving
// the spec here made possible: the store, the configuration, the pipeline
// and validation (their tests included) import nothing of the collector
// loop or the exchange adapters.
func TestLowerPackagesDoNotImportTheCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, pkg := range []string{"marketetl/store", "marketetl/config", "marketetl/pipeline", "marketetl/validate", "marketetl/spec"} {
		out, err := exec.CommandContext(t.Context(), goTool, "list", "-test", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "marketetl/collector" || strings.HasPrefix(dep, "marketetl/collector/") {
				t.Errorf("%s imports %s", pkg, dep)
			}
		}
	}
}

package service

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestServiceImportsNoExchange keeps the service free of concrete
// exchanges: they come in through the Registry it is given.
func TestServiceImportsNoExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", "marketetl/service").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "marketetl/exchange" || dep == "marketetl/sim" ||
			strings.HasPrefix(dep, "marketetl/collector/") && dep != "marketetl/collector/wire" {
			t.Errorf("the service imports %s", dep)
		}
	}
}

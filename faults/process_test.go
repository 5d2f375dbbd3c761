package faults

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// buildETL builds the etl binary into a temporary directory.
func buildETL(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "etl")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "marketetl/cmd/etl")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build etl: %v\n%s", err, out)
	}
	return bin
}

// etlProcess is one running `etl run`.
type etlProcess struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startETL(t *testing.T, bin string, env []string) *etlProcess {
	t.Helper()
	p := &etlProcess{out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "run", "--migrate")
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start etl: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }() // owned by p: wait() or the cleanup below receives it
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit error.
func (p *etlProcess) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(waitBound):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("etl did not exit; output:\n%s", p.out.String())
		return nil
	}
}

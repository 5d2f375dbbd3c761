package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"time"
)

// Launcher starts the frame server with plan and returns its ready line
// and a function that stops it and waits until it has exited.
type Launcher func(ctx context.Context, plan ServerPlan) (ServerReady, func() error, error)

// ChildLauncher runs the frame server as a child process built by cmd
// (for example the same binary with a hidden flag, whose main calls
// Serve), so that its CPU and memory are not counted as the service's.
// The child's standard error is passed through to stderr.
func ChildLauncher(cmd func(ctx context.Context) *exec.Cmd, stderr io.Writer) Launcher {
	return func(ctx context.Context, plan ServerPlan) (ServerReady, func() error, error) {
		c := cmd(ctx)
		c.Stderr = stderr
		in, err := c.StdinPipe()
		if err != nil {
			return ServerReady{}, nil, fmt.Errorf("frame server stdin: %w", err)
		}
		out, err := c.StdoutPipe()
		if err != nil {
			return ServerReady{}, nil, fmt.Errorf("frame server stdout: %w", err)
		}
		if err := c.Start(); err != nil {
			return ServerReady{}, nil, fmt.Errorf("start frame server: %w", err)
		}
		stop := func() error {
			_ = in.Close()
			if err := c.Wait(); err != nil {
				return fmt.Errorf("frame server: %w", err)
			}
			return nil
		}
		ready, err := handshake(in, out, plan)
		if err != nil {
			_ = c.Process.Kill()
			_ = stop()
			return ServerReady{}, nil, err
		}
		// The ready line is all Serve writes on its standard output.
		return ready, stop, nil
	}
}

// InProcessLauncher runs the frame server in this process (tests): its
// CPU and memory are then counted with the service's.
func InProcessLauncher() Launcher {
	return func(ctx context.Context, plan ServerPlan) (ServerReady, func() error, error) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		var wg sync.WaitGroup
		var serveErr error
		wg.Go(func() {
			serveErr = Serve(ctx, inR, outW)
			outW.CloseWithError(errors.Join(serveErr, io.EOF))
		})
		stop := func() error {
			_ = inW.Close()
			wg.Wait()
			return serveErr
		}
		ready, err := handshake(inW, outR, plan)
		if err != nil {
			_ = stop()
			return ServerReady{}, nil, err
		}
		wg.Go(func() { _, _ = io.Copy(io.Discard, outR) })
		return ready, stop, nil
	}
}

// handshake sends plan and reads the ready line.
func handshake(in io.Writer, out io.Reader, plan ServerPlan) (ServerReady, error) {
	b, err := json.Marshal(plan)
	if err != nil {
		return ServerReady{}, fmt.Errorf("encode frame server plan: %w", err)
	}
	if _, err := in.Write(append(b, '\n')); err != nil {
		return ServerReady{}, fmt.Errorf("send frame server plan: %w", err)
	}
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		return ServerReady{}, fmt.Errorf("frame server did not start: %w", err)
	}
	var ready ServerReady
	if err := json.Unmarshal(line, &ready); err != nil {
		return ServerReady{}, fmt.Errorf("frame server ready line %q: %w", line, err)
	}
	return ready, nil
}

// serverStats asks the frame server for a phase's counters.
func serverStats(ctx context.Context, addr, phase string) (ServerStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stats?phase="+phase, nil)
	if err != nil {
		return ServerStats{}, err
	}
	req.Close = true // no idle connection left behind
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ServerStats{}, fmt.Errorf("frame server stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ServerStats{}, fmt.Errorf("frame server stats: %s", resp.Status)
	}
	var st ServerStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return ServerStats{}, fmt.Errorf("frame server stats: %w", err)
	}
	return st, nil
}

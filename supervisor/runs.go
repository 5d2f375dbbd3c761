package supervisor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"
)

// PanicError is the error of a run that panicked: the panic's value and the
// stack where it happened.
type PanicError struct {
	Value any
	Stack []byte
}

// Error implements error; the stack is logged, not part of the text.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// errEarlyExit is a run that returned nil although nobody stopped it.
var errEarlyExit = errors.New("collector stopped on its own without an error")

// run is one Run call of one Runner, in its own goroutine.
type run struct {
	name    string
	runner  Runner
	started time.Time
	cancel  context.CancelFunc
	// done receives Run's result once (buffered, so that a run nobody waits
	// for any more can still exit).
	done chan error
}

// runTracker accounts for every run goroutine, including runs that did not
// stop within StopTimeout (hung): those are no longer waited for by their
// loop, but are still tracked here until they return, and Run waits for
// them at shutdown up to its deadline.
type runTracker struct {
	mu sync.Mutex // guards live and idle
	// live holds the runs whose goroutine has not returned; the value is
	// true for a run reported as hung.
	live map[*run]bool
	// idle is closed while live is empty.
	idle chan struct{}
}

func newRunTracker() *runTracker {
	idle := make(chan struct{})
	close(idle)
	return &runTracker{live: map[*run]bool{}, idle: idle}
}

// start runs r.Run(ctx) in a new goroutine, recovering a panic into a
// *PanicError. onHungExit is called if the run returns after it was
// reported hung.
func (t *runTracker) start(ctx context.Context, name string, r Runner, now time.Time, onHungExit func(error)) *run {
	rctx, cancel := context.WithCancel(ctx)
	rn := &run{name: name, runner: r, started: now, cancel: cancel, done: make(chan error, 1)}
	t.mu.Lock()
	if len(t.live) == 0 {
		t.idle = make(chan struct{})
	}
	t.live[rn] = false
	t.mu.Unlock()
	go func() {
		err := safeRun(rctx, r)
		cancel()
		if t.finish(rn) {
			onHungExit(err)
		}
		rn.done <- err
	}()
	return rn
}

// safeRun calls r.Run and turns a panic into a *PanicError.
func safeRun(ctx context.Context, r Runner) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return r.Run(ctx)
}

// finish forgets rn and reports whether it had been reported hung.
func (t *runTracker) finish(rn *run) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	hung := t.live[rn]
	delete(t.live, rn)
	if len(t.live) == 0 {
		close(t.idle)
	}
	return hung
}

// markHung records that rn did not stop in time; it returns false when rn
// has returned meanwhile.
func (t *runTracker) markHung(rn *run) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.live[rn]; !ok {
		return false
	}
	t.live[rn] = true
	return true
}

// hung returns the names of the runs reported hung that have not returned.
func (t *runTracker) hung() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for rn, h := range t.live {
		if h {
			out = append(out, rn.name)
		}
	}
	sort.Strings(out)
	return out
}

// wait waits until every run has returned or ctx ends; it returns the
// names of the runs still alive then.
func (t *runTracker) wait(ctx context.Context) []string {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for rn := range t.live {
		out = append(out, rn.name)
	}
	sort.Strings(out)
	return out
}

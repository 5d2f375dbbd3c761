package supervisor

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"marketetl/collector"
	"marketetl/spec"
)

// State is a collector's lifecycle state as the supervisor reports it. It
// is set in one place, entry.setState.
type State string

// The states of a collector.
const (
	// StateRunning: a run of the collector is active.
	StateRunning State = "running"
	// StateRestarting: the collector failed or was unhealthy and waits for
	// its backoff delay before the next start.
	StateRestarting State = "restarting"
	// StateFailed: the collector failed more than MaxReconnectAttempts
	// times in a row (it is retried every FailedRetryInterval), failed with
	// a permanent error, or exited with auto_restart off (both wait for a
	// manual restart).
	StateFailed State = "failed"
	// StateStopped: the collector is disabled, or the manager is not
	// running.
	StateStopped State = "stopped"
)

// Trigger says why a collector was restarted.
type Trigger string

// The restart triggers. Health triggers reuse their IssueKind's name.
const (
	TriggerNoHeartbeat  = Trigger(IssueNoHeartbeat)
	TriggerStaleData    = Trigger(IssueStaleData)
	TriggerDisconnected = Trigger(IssueDisconnected)
	// TriggerErrorRate: the error rate stayed above MaxErrorsPerMinute
	// for ErrorRateWindow.
	TriggerErrorRate = Trigger(IssueErrorRate)
	// TriggerExited: Run returned (with an error, or early without one),
	// or the Factory failed.
	TriggerExited Trigger = "exited"
	// TriggerPanic: Run panicked.
	TriggerPanic Trigger = "panic"
	// TriggerManual: an operator asked for the restart.
	TriggerManual Trigger = "manual"
	// TriggerFailedRetry: the periodic retry of a failed collector.
	TriggerFailedRetry Trigger = "failed_retry"
	// triggerStopped: the loop was stopped; not a restart.
	triggerStopped Trigger = ""
)

// Error kinds counted per collector, besides the collector's own errors.
const (
	errKindExit  = "exit"
	errKindPanic = "panic"
	errKindHung  = "hung"
)

// loopCtl controls the goroutine that supervises one enabled collector.
type loopCtl struct {
	cancel context.CancelFunc
	// done is closed when the loop has returned (after stopping its run,
	// or giving up on it after StopTimeout).
	done chan struct{}
	// restart carries manual restart requests (buffered: one pending).
	restart chan struct{}
}

// entry is one collector known to the manager, enabled or not.
type entry struct {
	name string
	log  *zap.Logger

	mu sync.Mutex // guards every field below
	// spec is the collector's configuration; spec.Enabled is always set.
	spec  spec.Collector
	state State
	// reason says why the collector is restarting or failed.
	reason string
	// loop is non-nil while a loop goroutine supervises the collector.
	loop *loopCtl
	// cur is the active run, nil between runs; runStarted is its start.
	cur        *run
	runStarted time.Time
	// carried sums the counters of finished runs, so that reported
	// counters grow across restarts.
	carried collector.Status
	// attempts counts consecutive failures (reset by a run that lasted
	// FailureDecay, a manual restart, enable and configuration changes).
	attempts    int
	nextAttempt time.Time
	restarts    uint64
	restartsBy  map[Trigger]uint64
	errorsBy    map[string]uint64
	lastRestart time.Time
	// lastError is the supervisor's latest error for the collector
	// (redacted); the collector's own latest error is in its Status.
	lastError     string
	lastErrorTime time.Time
	// The latest health check: when, its issues, the error total then and
	// the error rate it measured (negative when unknown).
	checkedAt   time.Time
	issues      []Issue
	checkErrors uint64
	errorRate   float64
	// errorRateSince is the start of the window measured by the first of
	// the consecutive checks (up to the latest) that found the error rate
	// above the limit; zero when the latest did not.
	errorRateSince time.Time
}

func newEntry(spec spec.Collector, log *zap.Logger) *entry {
	enabled := spec.IsEnabled()
	spec.Enabled = &enabled
	return &entry{
		name:       spec.Name,
		log:        log.With(zap.String("collector", spec.Name), zap.String("exchange", string(spec.Exchange))),
		spec:       spec,
		state:      StateStopped,
		restartsBy: map[Trigger]uint64{},
		errorsBy:   map[string]uint64{},
		errorRate:  -1,
		carried:    collector.Status{Streams: map[string]collector.StreamStatus{}},
	}
}

// setState sets the collector's state and its reason; the caller holds mu.
func (e *entry) setState(s State, reason string) {
	e.state = s
	e.reason = reason
	if s != StateRestarting && s != StateFailed {
		e.nextAttempt = time.Time{}
	}
}

// statusLocked returns the collector's status across its runs: the
// counters of finished runs plus the current run's snapshot. The caller
// holds mu.
func (e *entry) statusLocked() collector.Status {
	if e.cur == nil {
		return mergeStatus(&e.carried, nil)
	}
	cur := e.cur.runner.Status()
	return mergeStatus(&e.carried, &cur)
}

// endRunLocked folds the finished (or abandoned) run's counters into
// carried; the caller holds mu.
func (e *entry) endRunLocked(r *run) {
	if e.cur != r {
		return
	}
	final := r.runner.Status()
	e.carried = mergeStatus(&e.carried, &final)
	e.carried.State = collector.StateStopped
	e.carried.ConnectedSince = time.Time{}
	e.cur = nil
	e.runStarted = time.Time{}
}

// mergeStatus adds cur's counters to base's; times are the later of the
// two; state and per-stream subscription come from cur when there is one.
func mergeStatus(base, cur *collector.Status) collector.Status {
	out := *base
	out.Streams = make(map[string]collector.StreamStatus, len(base.Streams))
	for k, v := range base.Streams {
		out.Streams[k] = v
	}
	if cur == nil {
		return out
	}
	out.Name, out.Exchange = cur.Name, cur.Exchange
	out.State, out.Since, out.ConnectedSince = cur.State, cur.Since, cur.ConnectedSince
	out.LastMessage = later(base.LastMessage, cur.LastMessage)
	out.LastData = later(base.LastData, cur.LastData)
	out.MessagesReceived += cur.MessagesReceived
	out.MessagesProcessed += cur.MessagesProcessed
	out.Records += cur.Records
	out.Rejects += cur.Rejects
	out.Errors += cur.Errors
	out.Reconnects += cur.Reconnects
	if len(cur.Anomalies) > 0 {
		merged := make(map[string]uint64, len(base.Anomalies)+len(cur.Anomalies))
		for k, v := range base.Anomalies {
			merged[k] = v
		}
		for k, v := range cur.Anomalies {
			merged[k] += v
		}
		out.Anomalies = merged
	}
	if cur.ClockSkewKnown {
		out.ClockSkew, out.ClockSkewKnown = cur.ClockSkew, true
	}
	if cur.LastErrorTime.After(base.LastErrorTime) || (base.LastError == "" && cur.LastError != "") {
		out.LastError, out.LastErrorTime = cur.LastError, cur.LastErrorTime
	}
	for k, ss := range cur.Streams {
		prev, ok := out.Streams[k]
		if !ok {
			out.Streams[k] = ss
			continue
		}
		ss.Records += prev.Records
		ss.LastData = later(prev.LastData, ss.LastData)
		out.Streams[k] = ss
	}
	// A stream the current configuration no longer has is dropped, so that
	// its series disappear from the metrics.
	for k := range out.Streams {
		if _, ok := cur.Streams[k]; !ok {
			delete(out.Streams, k)
		}
	}
	return out
}

// streamsOf returns a status's streams for spec, including configured
// streams the collector has not reported yet (a run that never started).
func streamsOf(spec *spec.Collector, st *collector.Status) map[string]collector.StreamStatus {
	out := make(map[string]collector.StreamStatus, len(st.Streams))
	for k, v := range st.Streams {
		out[k] = v
	}
	if len(out) == 0 {
		for _, s := range spec.Streams() {
			out[s.String()] = collector.StreamStatus{Stream: s}
		}
	}
	return out
}

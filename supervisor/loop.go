package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"marketetl/collector"
)

// outcome is how one run ended.
type outcome struct {
	trigger Trigger
	// err is the run's error, or the health issue that stopped it.
	err error
	// started is when the run started; zero when the Factory failed.
	started time.Time
}

// waitForever is afterRun's answer for a collector that is restarted only
// by hand.
const waitForever time.Duration = -1

// startLoop starts the goroutine that supervises e. The caller holds
// m.opMu, and the manager is running.
func (m *Manager) startLoop(e *entry) {
	if !m.mayRun(e.name) {
		return // another instance owns it
	}
	m.mu.Lock()
	parent := m.loopParent
	m.mu.Unlock()
	ctx, cancel := context.WithCancel(parent)
	ctl := &loopCtl{cancel: cancel, done: make(chan struct{}), restart: make(chan struct{}, 1)}
	e.mu.Lock()
	e.loop = ctl
	e.attempts = 0
	e.setState(StateRunning, "")
	e.mu.Unlock()
	m.loops.Add(1)
	go func() {
		defer m.loops.Done()
		defer close(ctl.done)
		m.loop(ctx, e, ctl)
	}()
}

// stopLoop cancels e's loop and waits until it has returned, which takes
// at most StopTimeout (a run that hangs is left to the run tracker). The
// caller holds m.opMu.
func (m *Manager) stopLoop(e *entry) {
	e.mu.Lock()
	ctl := e.loop
	e.loop = nil
	e.mu.Unlock()
	if ctl == nil {
		return
	}
	ctl.cancel()
	<-ctl.done
}

// loop supervises e until ctx ends: it starts a run, checks its health,
// and after a failure waits for the backoff delay (or, once failed, for
// FailedRetryInterval or a manual restart) before the next start.
func (m *Manager) loop(ctx context.Context, e *entry, ctl *loopCtl) {
	defer func() {
		e.mu.Lock()
		e.setState(StateStopped, "")
		e.mu.Unlock()
	}()
	next := triggerStopped // the first start is not a restart
	for {
		out := m.runOnce(ctx, e, ctl, next)
		if ctx.Err() != nil {
			return
		}
		wait := m.afterRun(e, out)
		var ok bool
		if next, ok = m.pause(ctx, e, ctl, wait, out.trigger); !ok {
			return
		}
	}
}

// runOnce starts one run of e and supervises it until it ends, is found
// unhealthy, is asked to restart, or ctx ends. trigger says why this start
// is a restart ("" for the first start).
func (m *Manager) runOnce(ctx context.Context, e *entry, ctl *loopCtl, trigger Trigger) outcome {
	now := m.cfg.Now()
	e.mu.Lock()
	spec := e.spec
	if trigger != triggerStopped {
		e.restarts++
		e.restartsBy[trigger]++
		e.lastRestart = now
	}
	e.setState(StateRunning, "")
	e.mu.Unlock()

	r, err := m.factory(spec)
	if err != nil {
		return outcome{trigger: TriggerExited, err: fmt.Errorf("build collector: %w", err)}
	}
	rn := m.runs.start(ctx, e.name, r, now, func(err error) {
		e.log.Warn("hung collector run has finally returned", zap.String("error", m.red.err(err)))
	})
	e.mu.Lock()
	e.cur, e.runStarted = rn, now
	e.syncStreamsLocked(&spec, rn)
	e.checkedAt, e.issues, e.errorRate, e.errorRateSince = time.Time{}, nil, -1, time.Time{}
	e.checkErrors = e.statusLocked().Errors
	e.mu.Unlock()
	if trigger == triggerStopped {
		e.log.Info("collector started")
	} else {
		e.log.Info("collector restarted", zap.String("trigger", string(trigger)))
	}

	lim := limitsFor(&m.cfg, &spec)
	tick := time.NewTicker(checkInterval(&m.cfg, &spec))
	defer tick.Stop()
	for {
		select {
		case err := <-rn.done:
			e.mu.Lock()
			e.endRunLocked(rn)
			e.mu.Unlock()
			if ctx.Err() != nil {
				return outcome{trigger: triggerStopped, started: now}
			}
			out := outcome{trigger: TriggerExited, err: err, started: now}
			if err == nil {
				out.err = errEarlyExit
			}
			if pe := (*PanicError)(nil); errors.As(err, &pe) {
				out.trigger = TriggerPanic
			}
			return out
		case <-ctx.Done():
			m.stopRun(e, rn)
			return outcome{trigger: triggerStopped, started: now}
		case <-ctl.restart:
			m.stopRun(e, rn)
			return outcome{trigger: TriggerManual, started: now}
		case <-tick.C:
			issues := m.check(e, &lim)
			is, ok := restartTrigger(issues)
			if !ok {
				is, ok = m.sustainedErrorRate(e, issues)
			}
			if ok && spec.RestartsAutomatically() {
				e.log.Warn("restarting unhealthy collector", zap.String("trigger", string(is.Kind)), zap.String("issue", is.Text))
				m.stopRun(e, rn)
				return outcome{trigger: Trigger(is.Kind), err: errors.New(is.Text), started: now}
			}
		}
	}
}

// stopRun cancels rn and waits for it up to StopTimeout; a run that takes
// longer is reported as hung and left to the run tracker.
func (m *Manager) stopRun(e *entry, rn *run) {
	rn.cancel()
	t := time.NewTimer(m.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-rn.done:
	case <-t.C:
		if m.runs.markHung(rn) {
			e.log.Error("collector did not stop in time; its run is abandoned, tracked and awaited at shutdown",
				zap.Duration("stop_timeout", m.cfg.StopTimeout))
			e.mu.Lock()
			e.errorsBy[errKindHung]++
			e.lastError = fmt.Sprintf("did not stop within %s", m.cfg.StopTimeout)
			e.lastErrorTime = m.cfg.Now()
			e.mu.Unlock()
		}
	}
	e.mu.Lock()
	e.endRunLocked(rn)
	e.mu.Unlock()
}

// afterRun records how a run ended and decides how long to wait before the
// next start: 0 for at once, waitForever for a manual restart only.
func (m *Manager) afterRun(e *entry, out outcome) time.Duration {
	now := m.cfg.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if out.trigger == TriggerManual {
		e.attempts = 0
		return 0
	}
	if !out.started.IsZero() && now.Sub(out.started) >= m.cfg.FailureDecay {
		e.attempts = 0
	}
	e.attempts++
	text := m.red.err(out.err)
	e.lastError, e.lastErrorTime = text, now
	fields := []zap.Field{zap.String("trigger", string(out.trigger)), zap.String("error", text), zap.Int("attempt", e.attempts)}
	switch out.trigger {
	case TriggerExited:
		e.errorsBy[errKindExit]++
	case TriggerPanic:
		e.errorsBy[errKindPanic]++
		if pe := (*PanicError)(nil); errors.As(out.err, &pe) {
			fields = append(fields, zap.ByteString("stack", pe.Stack))
		}
	}
	spec := e.spec
	switch {
	case errors.Is(out.err, collector.ErrPermanent):
		e.setState(StateFailed, "permanent error: "+text+"; not restarted automatically: fix the cause and restart it")
		e.log.Error("collector failed permanently", fields...)
		return waitForever
	case !spec.RestartsAutomatically():
		e.setState(StateFailed, text+"; auto_restart is off: restart it by hand")
		e.log.Error("collector stopped and auto_restart is off", fields...)
		return waitForever
	case e.attempts > m.cfg.MaxReconnectAttempts:
		e.setState(StateFailed, fmt.Sprintf("%d consecutive failures, the last: %s; retried every %s",
			e.attempts, text, m.cfg.FailedRetryInterval))
		e.nextAttempt = now.Add(m.cfg.FailedRetryInterval)
		e.log.Error("collector failed; retrying on the long interval", append(fields, zap.Duration("retry_in", m.cfg.FailedRetryInterval))...)
		return m.cfg.FailedRetryInterval
	default:
		d := restartDelay(&m.cfg, e.attempts, m.cfg.Rand())
		e.setState(StateRestarting, text)
		e.nextAttempt = now.Add(d)
		e.log.Warn("collector failed; restarting after backoff", append(fields, zap.Duration("delay", d))...)
		return d
	}
}

// pause waits d (forever when d is waitForever) before the next start, or
// until a manual restart is asked. It returns the next start's trigger, or
// false when ctx ended.
func (m *Manager) pause(ctx context.Context, e *entry, ctl *loopCtl, d time.Duration, last Trigger) (Trigger, bool) {
	if d == 0 {
		return last, true
	}
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return triggerStopped, false
	case <-ctl.restart:
		e.mu.Lock()
		e.attempts = 0
		e.mu.Unlock()
		return TriggerManual, true
	case <-timeout:
		e.mu.Lock()
		failed := e.state == StateFailed
		e.mu.Unlock()
		if failed {
			return TriggerFailedRetry, true
		}
		return last, true
	}
}

// check judges e's current run, records the result and returns its
// issues. It logs when the collector turns unhealthy or healthy again.
func (m *Manager) check(e *entry, lim *limits) []Issue {
	now := m.cfg.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		return nil
	}
	st := e.statusLocked()
	rate := -1.0
	since := e.checkedAt
	if since.IsZero() {
		since = e.runStarted
	}
	if dt := now.Sub(since); dt > 0 {
		rate = float64(st.Errors-e.checkErrors) / dt.Minutes()
	}
	issues := assess(&st, e.runStarted, now, lim, rate)
	for i := range issues {
		issues[i].Text = m.red.text(issues[i].Text)
	}
	wasHealthy := len(e.issues) == 0
	switch {
	case !hasIssue(issues, IssueErrorRate):
		e.errorRateSince = time.Time{}
	case e.errorRateSince.IsZero():
		e.errorRateSince = since
	}
	e.checkedAt, e.issues, e.checkErrors, e.errorRate = now, issues, st.Errors, rate
	switch {
	case len(issues) > 0 && wasHealthy:
		e.log.Warn("collector unhealthy", zap.Strings("issues", issueTexts(issues)))
	case len(issues) == 0 && !wasHealthy:
		e.log.Info("collector healthy again")
	}
	return issues
}

func issueTexts(issues []Issue) []string {
	out := make([]string, len(issues))
	for i, is := range issues {
		out[i] = is.Text
	}
	return out
}

// sustainedErrorRate returns the error-rate issue of issues when the rate
// has been above the limit at every check covering the last
// ErrorRateWindow (the seed design's error state): such a collector is
// restarted like a stale one.
func (m *Manager) sustainedErrorRate(e *entry, issues []Issue) (Issue, bool) {
	e.mu.Lock()
	since, checked := e.errorRateSince, e.checkedAt
	e.mu.Unlock()
	if since.IsZero() || checked.Sub(since) < m.cfg.ErrorRateWindow {
		return Issue{}, false
	}
	for _, is := range issues {
		if is.Kind == IssueErrorRate {
			return is, true
		}
	}
	return Issue{}, false
}

func hasIssue(issues []Issue, k IssueKind) bool {
	for _, is := range issues {
		if is.Kind == k {
			return true
		}
	}
	return false
}

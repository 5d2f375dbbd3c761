package supervisor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/spec"
)

// stuck connects and then reads nothing at all.
func stuck(ctx context.Context, r *fakeRunner) error {
	r.connect()
	<-ctx.Done()
	return nil
}

// reconnecting never connects, although frames (say, error answers) arrive.
func reconnecting(ctx context.Context, r *fakeRunner) error {
	r.mu.Lock()
	r.st.State, r.st.Since = collector.StateReconnecting, time.Now()
	r.mu.Unlock()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.beat(false)
		}
	}
}

// erring delivers data every second, with two errors.
func erring(ctx context.Context, r *fakeRunner) error {
	r.connect()
	r.beat(true)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.beat(true)
			r.fail("bad frame")
			r.fail("bad frame")
		}
	}
}

// A burst of errors shorter than the window is reported, not restarted.
func TestErrorBurstIsNotRestarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, nil)
		h.f.set("c", func(ctx context.Context, r *fakeRunner) error {
			r.connect()
			r.beat(true)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
					r.beat(true)
					if i < 50 { // 100 errors a minute for 50s, then none
						r.fail("bad frame")
						r.fail("bad frame")
					}
				}
			}
		})
		h.start(newSpec("c", withInterval(10*time.Second)))
		time.Sleep(55 * time.Second)
		synctest.Wait()
		if hr, _ := h.m.Health("c"); hr.IsHealthy {
			t.Errorf("healthy during the burst")
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if st := h.status("c").Statistics; st.Restarts != 0 {
			t.Errorf("%d restarts after a 50s burst, want 0", st.Restarts)
		}
		h.mustStop()
	})
}

func TestUnhealthyCollectorIsRestarted(t *testing.T) {
	cases := []struct {
		name   string
		behave behaviour
		opts   []func(*spec.Collector)
		// restartAfter is when the first restart is expected: the first
		// check that finds the issue plus the 5s backoff; 0 for never.
		restartAfter time.Duration
		trigger      Trigger
		issue        string
	}{
		{
			name: "stale data", behave: silent,
			opts: []func(*spec.Collector){withInterval(10 * time.Second), withSilence(30 * time.Second)},
			// checks at 10, 20, 30 find 30s at most; 40 finds 40s > 30s
			restartAfter: 45 * time.Second, trigger: TriggerStaleData,
			issue: "no data on trades for BTC-USDT for 40s",
		},
		{
			name: "stale data of one type with its own silence", behave: silent,
			opts: []func(*spec.Collector){withInterval(10 * time.Second), func(s *spec.Collector) {
				s.MaxSilenceByType = map[market.DataType]spec.Duration{"trade": spec.Duration(15 * time.Second)}
			}},
			restartAfter: 25 * time.Second, trigger: TriggerStaleData,
			issue: "no data on trades for BTC-USDT for 20s",
		},
		{
			name: "no heartbeat", behave: stuck,
			opts: []func(*spec.Collector){withInterval(10 * time.Second)},
			// heartbeat timeout 20s: the check at 30s finds 30s
			restartAfter: 35 * time.Second, trigger: TriggerNoHeartbeat,
			issue: "no message received for 30s (heartbeat timeout 20s)",
		},
		{
			name: "not connected", behave: reconnecting,
			opts:         []func(*spec.Collector){withInterval(10 * time.Second)},
			restartAfter: 35 * time.Second, trigger: TriggerDisconnected,
			issue: "not connected (reconnecting) for 30s",
		},
		{
			name: "error rate sustained for a minute", behave: erring,
			opts: []func(*spec.Collector){withInterval(10 * time.Second)},
			// every check from 10s finds 120 errors a minute; the one at 60s
			// covers a minute above the limit
			restartAfter: 65 * time.Second, trigger: TriggerErrorRate,
			issue: "errors per minute (limit 60)",
		},
		{
			name: "auto_restart off", behave: silent,
			opts:  []func(*spec.Collector){withInterval(10 * time.Second), withSilence(30 * time.Second), noAutoRestart},
			issue: "no data on trades for BTC-USDT for 40s",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, Config{HeartbeatTimeout: 20 * time.Second}, nil)
				h.f.set("c", tc.behave)
				h.start(newSpec("c", tc.opts...))
				// Just after the check that should find the issue.
				first := tc.restartAfter - 5*time.Second
				if tc.restartAfter == 0 {
					first = 40 * time.Second
				}
				time.Sleep(first + time.Millisecond)
				synctest.Wait()
				hr, _ := h.m.Health("c")
				if hr.IsHealthy || !strings.Contains(strings.Join(hr.Issues, "\n"), tc.issue) {
					t.Errorf("health after %s: healthy=%v issues=%q, want issue %q", first, hr.IsHealthy, hr.Issues, tc.issue)
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				gaps := h.f.gaps("c")
				st := h.status("c").Statistics
				if tc.restartAfter == 0 {
					if len(gaps) != 0 || st.Restarts != 0 {
						t.Fatalf("restarted (gaps %v, restarts %d) although auto_restart is off", gaps, st.Restarts)
					}
				} else {
					if len(gaps) != 1 || gaps[0] != tc.restartAfter {
						t.Fatalf("restart gaps = %v, want [%s]", gaps, tc.restartAfter)
					}
					if st.RestartsByTrigger[string(tc.trigger)] != 1 || st.Restarts != 1 {
						t.Errorf("restarts = %d by trigger %v, want 1 by %s", st.Restarts, st.RestartsByTrigger, tc.trigger)
					}
				}
				h.mustStop()
			})
		})
	}
}

func TestBackoffGrowsJitteredAndCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{
			ReconnectDelay: time.Second, ReconnectDelayMax: 8 * time.Second, Jitter: 0.2,
			MaxReconnectAttempts: 10, Rand: sequence(0, 0.5, 0.75, 0.25, 0.5),
		}, nil)
		h.f.set("c", failing(errTransient))
		h.start(newSpec("c"))
		time.Sleep(31 * time.Second)
		synctest.Wait()
		want := []time.Duration{
			800 * time.Millisecond,  // 1s -20%
			2 * time.Second,         // 2s ±0
			4400 * time.Millisecond, // 4s +10%
			7200 * time.Millisecond, // 8s -10%
			8 * time.Second,         // 16s capped
			8 * time.Second,         // 32s capped
		}
		if got := h.f.gaps("c"); !slices.Equal(got, want) {
			t.Errorf("gaps between starts = %v, want %v", got, want)
		}
		st := h.status("c")
		if st.Status != StateRestarting || st.Statistics.ReconnectAttempts != 7 || st.Statistics.LastError != errTransient.Error() {
			t.Errorf("status %s attempts %d last error %q; want restarting, 7, %q",
				st.Status, st.Statistics.ReconnectAttempts, st.Statistics.LastError, errTransient)
		}
		h.mustStop()
	})
}

func TestFailedAfterMaxAttemptsOthersUntouched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{
			ReconnectDelay: time.Second, ReconnectDelayMax: time.Minute,
			MaxReconnectAttempts: 3, FailedRetryInterval: 10 * time.Minute,
		}, nil)
		h.f.set("bad", failing(errTransient))
		h.start(newSpec("bad"), newSpec("good"))
		time.Sleep(time.Minute)
		synctest.Wait()

		if got, want := h.f.gaps("bad"), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !slices.Equal(got, want) {
			t.Fatalf("bad's restart gaps = %v, want %v (3 restarts, then failed)", got, want)
		}
		bad := h.status("bad")
		if bad.Status != StateFailed || !strings.Contains(bad.StatusReason, "4 consecutive failures") || bad.NextAttemptTime == nil {
			t.Errorf("bad: status %s reason %q next %v; want failed after 4 consecutive failures with a next attempt",
				bad.Status, bad.StatusReason, bad.NextAttemptTime)
		}
		if got := h.m.Failed(); !slices.Equal(got, []string{"bad"}) {
			t.Errorf("Failed() = %v, want [bad]", got)
		}
		if got := h.m.Running(); !slices.Equal(got, []string{"good"}) {
			t.Errorf("Running() = %v, want [good]", got)
		}
		good := h.status("good")
		if len(h.f.startTimes("good")) != 1 || good.Statistics.Restarts != 0 || !good.Health.IsHealthy {
			t.Errorf("good: %d starts, %d restarts, healthy %v; want 1, 0, true",
				len(h.f.startTimes("good")), good.Statistics.Restarts, good.Health.IsHealthy)
		}

		// A failed collector is retried on the long interval, not forgotten.
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := len(h.f.startTimes("bad")); n != 5 {
			t.Errorf("bad started %d times after the failed retry interval, want 5", n)
		}
		bad = h.status("bad")
		if bad.Statistics.RestartsByTrigger[string(TriggerFailedRetry)] != 1 || bad.Status != StateFailed {
			t.Errorf("bad after retry: %v restarts by trigger, status %s; want 1 failed_retry, failed",
				bad.Statistics.RestartsByTrigger, bad.Status)
		}
		h.mustStop()
	})
}

func TestFailureDecayStartsAfresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{
			ReconnectDelay: time.Second, ReconnectDelayMax: time.Minute, FailureDecay: time.Minute,
		}, nil)
		// Two quick failures, then two minutes of service, then a failure.
		h.f.set("c", after(2, failing(errTransient), after(3, runFor(2*time.Minute, errTransient), failing(errTransient))))
		h.start(newSpec("c"))
		time.Sleep(2*time.Minute + 4*time.Second + 500*time.Millisecond)
		synctest.Wait()
		want := []time.Duration{
			time.Second,                 // attempt 1
			2 * time.Second,             // attempt 2
			2*time.Minute + time.Second, // ran 2m > FailureDecay: attempt 1 again
		}
		got := h.f.gaps("c")
		if len(got) < 3 || !slices.Equal(got[:3], want) {
			t.Fatalf("gaps = %v, want %v first", got, want)
		}
		h.mustStop()
	})
}

func TestPanickingCollectorIsRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, nil)
		h.f.set("c", after(1, func(context.Context, *fakeRunner) error { panic("index out of range in decoder") }, healthy))
		h.start(newSpec("c"), newSpec("other"))
		time.Sleep(6 * time.Second)
		synctest.Wait()
		st := h.status("c")
		if st.Status != StateRunning || st.Statistics.RestartsByTrigger[string(TriggerPanic)] != 1 {
			t.Errorf("status %s restarts %v; want running after 1 panic restart", st.Status, st.Statistics.RestartsByTrigger)
		}
		if st.Statistics.LastError != "panic: index out of range in decoder" {
			t.Errorf("last error %q", st.Statistics.LastError)
		}
		entries := h.logged("collector failed; restarting after backoff")
		if len(entries) != 1 {
			t.Fatalf("%d failure log entries, want 1", len(entries))
		}
		fields := entries[0].ContextMap()
		if stack, _ := fields["stack"].(string); !strings.Contains(stack, "loop_test.go") {
			t.Errorf("logged stack does not show the panicking frame:\n%s", stack)
		}
		if fields["collector"] != "c" || fields["exchange"] != "okx" {
			t.Errorf("log fields %v lack collector and exchange", fields)
		}
		if n := len(h.f.startTimes("other")); n != 1 {
			t.Errorf("other started %d times, want 1", n)
		}
		h.mustStop()
	})
}

func TestPermanentErrorIsNotRestarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, nil)
		h.f.set("c", after(1, failing(errBadConfig), healthy))
		h.start(newSpec("c"))
		time.Sleep(time.Hour)
		synctest.Wait()
		st := h.status("c")
		if n := len(h.f.startTimes("c")); n != 1 || st.Status != StateFailed || !strings.Contains(st.StatusReason, "permanent") {
			t.Fatalf("%d starts, status %s reason %q; want 1 start, failed for a permanent error", n, st.Status, st.StatusReason)
		}
		if st.NextAttemptTime != nil {
			t.Errorf("next attempt %v, want none", st.NextAttemptTime)
		}
		// An operator fixes the cause and restarts it by hand.
		if err := h.m.Restart("c"); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		synctest.Wait()
		st = h.status("c")
		if st.Status != StateRunning || st.Statistics.RestartsByTrigger[string(TriggerManual)] != 1 || st.Statistics.ReconnectAttempts != 0 {
			t.Errorf("after manual restart: status %s restarts %v attempts %d", st.Status, st.Statistics.RestartsByTrigger, st.Statistics.ReconnectAttempts)
		}
		h.mustStop()
	})
}

func TestHungCollectorIsReported(t *testing.T) {
	t.Run("at the stop deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, Config{StopTimeout: 10 * time.Second}, nil)
			release := make(chan struct{})
			h.f.set("c", hangs(release))
			h.start(newSpec("c"))
			begin := time.Now()
			if err := h.m.Disable(t.Context(), "c"); err != nil {
				t.Fatalf("Disable: %v", err)
			}
			if took := time.Since(begin); took != 10*time.Second {
				t.Errorf("Disable took %s, want the stop timeout 10s", took)
			}
			if n := len(h.logged("collector did not stop in time; its run is abandoned, tracked and awaited at shutdown")); n != 1 {
				t.Errorf("%d hung reports logged, want 1", n)
			}
			rep := h.m.Report()
			if rep.Statistics.Hung != 1 || rep.Collectors["c"].Statistics.HungStops != 1 || rep.Collectors["c"].Status != StateStopped {
				t.Errorf("hung %d, hung stops %d, status %s; want 1, 1, stopped",
					rep.Statistics.Hung, rep.Collectors["c"].Statistics.HungStops, rep.Collectors["c"].Status)
			}
			close(release)
			synctest.Wait()
			if n := h.m.Report().Statistics.Hung; n != 0 {
				t.Errorf("hung = %d after the run returned, want 0", n)
			}
			if n := len(h.logged("hung collector run has finally returned")); n != 1 {
				t.Errorf("%d 'finally returned' logs, want 1", n)
			}
			h.mustStop()
		})
	})
	t.Run("at shutdown", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, Config{StopTimeout: 10 * time.Second, ShutdownTimeout: 20 * time.Second}, nil)
			release := make(chan struct{})
			h.f.set("c", hangs(release))
			h.start(newSpec("c"), newSpec("fine"))
			begin := time.Now()
			err := h.stop()
			if err == nil || !strings.Contains(err.Error(), "collectors c did not stop within 20s") {
				t.Errorf("Run = %v, want an error naming c", err)
			}
			if took := time.Since(begin); took != 20*time.Second {
				t.Errorf("shutdown took %s, want the deadline 20s", took)
			}
			close(release)
			synctest.Wait()
		})
	})
}

func TestManualRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, nil)
		h.start(newSpec("a"), newSpec("b"), newSpec("off", disabled))
		if err := h.m.Restart("a"); err != nil {
			t.Fatalf("Restart(a): %v", err)
		}
		synctest.Wait()
		if n := len(h.f.startTimes("a")); n != 2 {
			t.Errorf("a started %d times, want 2", n)
		}
		if err := h.m.Restart("off"); !errors.Is(err, ErrDisabled) {
			t.Errorf("Restart(off) = %v, want ErrDisabled", err)
		}
		if err := h.m.Restart("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Restart(nope) = %v, want ErrNotFound", err)
		}
		names, err := h.m.RestartAll()
		if err != nil || !slices.Equal(names, []string{"a", "b"}) {
			t.Errorf("RestartAll = %v, %v; want [a b]", names, err)
		}
		synctest.Wait()
		if na, nb := len(h.f.startTimes("a")), len(h.f.startTimes("b")); na != 3 || nb != 2 {
			t.Errorf("starts a=%d b=%d, want 3 and 2", na, nb)
		}
		if st := h.status("a").Statistics; st.RestartsByTrigger[string(TriggerManual)] != 2 || st.LastRestartTime == nil {
			t.Errorf("a: restarts %v, last restart %v", st.RestartsByTrigger, st.LastRestartTime)
		}
		h.mustStop()
	})
}

func TestCountersGrowAcrossRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, nil)
		h.start(newSpec("c"))
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		before := h.status("c").Statistics.Records
		if err := h.m.Restart("c"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		after := h.status("c").Statistics.Records
		if before != 11 || after < before+1 {
			t.Errorf("records %d before the restart (want 11) and %d after (want more)", before, after)
		}
		h.mustStop()
	})
}

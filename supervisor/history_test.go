package supervisor

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestHistoryRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{HealthCheckInterval: 10 * time.Second, RetentionInterval: time.Hour, StatusRetention: 24 * time.Hour}, nil)
		h.f.set("bad", failing(errTransient))
		h.start(newSpec("good"), newSpec("off", disabled), newSpec("bad"))
		time.Sleep(35 * time.Second)
		synctest.Wait()
		h.mustStop()
		rounds := h.hist.allRounds()
		// Three rounds at 10, 20, 30s and the last one at shutdown.
		if len(rounds) != 4 {
			t.Fatalf("%d rounds, want 4", len(rounds))
		}
		for i, r := range rounds {
			var names []string
			for _, row := range r {
				names = append(names, row.Collector)
				if !row.Time.Equal(r[0].Time) {
					t.Errorf("round %d: rows of different times", i)
				}
			}
			if !slices.Equal(names, []string{"bad", "good", "off"}) {
				t.Errorf("round %d: collectors %v, want one row each for bad, good, off", i, names)
			}
		}
		first := rounds[0]
		if first[1].Status != "running" || !first[1].Healthy || first[1].Records == 0 || len(first[1].Issues) != 0 {
			t.Errorf("good's row: %+v", first[1])
		}
		if first[2].Status != "stopped" || first[2].Healthy || !slices.Equal(first[2].Issues, []string{"disabled"}) {
			t.Errorf("off's row: %+v", first[2])
		}
		if first[0].Healthy || first[0].LastError != errTransient.Error() || first[0].Restarts == 0 {
			t.Errorf("bad's row: %+v", first[0])
		}
		if last := rounds[3]; last[1].Status != "stopped" {
			t.Errorf("last round: good is %s, want stopped", last[1].Status)
		}
	})
}

func TestHousekeeping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{
			GlobalHealthCheckInterval: time.Minute, RetentionInterval: time.Minute, StatusRetention: 24 * time.Hour,
			MaxReconnectAttempts: 100,
		}, nil)
		h.f.set("a", failing(errTransient))
		h.f.set("b", failing(errTransient))
		begin := time.Now()
		h.start(newSpec("a"), newSpec("b"))
		time.Sleep(time.Minute + time.Millisecond)
		synctest.Wait()
		entries := h.logged("global health check: no collector is healthy")
		if len(entries) != 1 {
			t.Fatalf("%d 'no collector is healthy' logs, want 1", len(entries))
		}
		if rep := h.m.Report(); rep.Manager.LastGlobalCheck == nil || !rep.Manager.LastGlobalCheck.Equal(begin.Add(time.Minute)) {
			t.Errorf("last global check %v, want %v", rep.Manager.LastGlobalCheck, begin.Add(time.Minute))
		}
		h.hist.mu.Lock()
		deletes := append([]time.Time(nil), h.hist.deletes...)
		h.hist.mu.Unlock()
		if want := begin.Add(time.Minute - 24*time.Hour); len(deletes) != 1 || !deletes[0].Equal(want) {
			t.Errorf("retention deletes before %v, want [%v]", deletes, want)
		}
		h.mustStop()
	})
}

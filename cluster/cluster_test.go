package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig is the test instances' settings: lease 10 s (fence 5 s),
// heartbeat 1 s, evaluations every 2 s, hysteresis 2.
func testConfig(id string) Config {
	return Config{InstanceID: id, Lease: 10 * time.Second, Heartbeat: time.Second, Rebalance: 2 * time.Second, Hysteresis: 2,
		Rand: func() float64 { return 0 }}
}

// instances runs coordinators against one fakeServer.
type instances struct {
	t   *testing.T
	srv *fakeServer
	wg  sync.WaitGroup
	// stop ends an instance's Run, by id.
	stop map[string]context.CancelFunc
}

func newInstances(t *testing.T, srv *fakeServer) *instances {
	return &instances{t: t, srv: srv, stop: map[string]context.CancelFunc{}}
}

func (in *instances) start(id string) {
	tg := in.srv.target(id)
	c, err := New(testConfig(id), in.srv.dialer(id, tg), tg)
	if err != nil {
		in.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(in.t.Context())
	in.stop[id] = cancel
	in.wg.Go(func() {
		if err := c.Run(ctx); err != nil {
			in.t.Errorf("%s: Run: %v", id, err)
		}
	})
}

func (in *instances) stopAll() {
	for _, cancel := range in.stop {
		cancel()
	}
	in.wg.Wait()
}

// at advances the fake clock to d after the bubble started, then waits
// for every goroutine to block.
func at(start time.Time, d time.Duration) {
	time.Sleep(time.Until(start.Add(d)))
	synctest.Wait()
}

func collectors(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("c%d", i))
	}
	return out
}

func wantCounts(t *testing.T, when string, srv *fakeServer, want map[string]int) {
	t.Helper()
	if got := srv.counts(); !maps.Equal(got, want) {
		t.Errorf("%s: collectors run per instance %v, want %v", when, got, want)
	}
}

// Instances joining one after another take their share: 7 collectors
// over 1, then 2, then 3 instances end as 7, then 4+3, then 3+2+2, each
// move only after the hysteresis, never two instances running one
// collector.
func TestJoiningInstancesTakeTheirShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv := newFakeServer(t, collectors(7)...)
		in := newInstances(t, srv)
		defer in.stopAll()
		in.start("a") // evaluates at 0 s, 2 s, 4 s...
		at(start, 100*time.Millisecond)
		wantCounts(t, "a alone, first sighting", srv, map[string]int{})
		at(start, 2100*time.Millisecond)
		wantCounts(t, "a alone, second sighting", srv, map[string]int{"a": 7})

		in.start("b") // evaluates at 2.1 s, 4.1 s...
		at(start, 5*time.Second)
		// a was above its share of 4 once (at 4 s): not yet acted on.
		wantCounts(t, "b joined, before the hysteresis", srv, map[string]int{"a": 7})
		at(start, 6050*time.Millisecond)
		// a released three at 6 s; b sees them at 6.1 s and 8.1 s.
		wantCounts(t, "a released", srv, map[string]int{"a": 4})
		at(start, 8050*time.Millisecond)
		wantCounts(t, "b saw them unowned once", srv, map[string]int{"a": 4})
		at(start, 8200*time.Millisecond)
		wantCounts(t, "b took its share", srv, map[string]int{"a": 4, "b": 3})

		in.start("c") // evaluates at 8.2 s, 10.2 s...
		// a releases one at 12 s, b one at 12.1 s; c sees both at 12.2 s
		// and takes them at 14.2 s.
		at(start, 14100*time.Millisecond)
		wantCounts(t, "c not yet", srv, map[string]int{"a": 3, "b": 2})
		at(start, 14300*time.Millisecond)
		wantCounts(t, "c took its share", srv, map[string]int{"a": 3, "b": 2, "c": 2})
		at(start, 30*time.Second)
		wantCounts(t, "settled", srv, map[string]int{"a": 3, "b": 2, "c": 2})
		if u := srv.unowned(); len(u) != 0 {
			t.Errorf("unowned collectors: %v", u)
		}
		if srv.double != 0 {
			t.Errorf("a collector ran on two instances %d times", srv.double)
		}
		if srv.unlocks != 5 {
			t.Errorf("%d collectors moved, want 5 (3 to b, then 1 each from a and b to c)", srv.unlocks)
		}
	})
}

// An instance that appears for less than the hysteresis moves nothing.
func TestFlappingInstanceMovesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv := newFakeServer(t, collectors(6)...)
		in := newInstances(t, srv)
		defer in.stopAll()
		in.start("a")
		at(start, 500*time.Millisecond)
		in.start("b")
		at(start, 10*time.Second)
		wantCounts(t, "a and b", srv, map[string]int{"a": 3, "b": 3})
		moved := srv.unlocks

		at(start, 10500*time.Millisecond)
		in.start("c") // seen by b at 10.5 s at most, never by a (10 s, 12 s)
		at(start, 11500*time.Millisecond)
		in.stop["c"]()
		at(start, 30*time.Second)
		wantCounts(t, "after c came and went", srv, map[string]int{"a": 3, "b": 3})
		if srv.unlocks != moved {
			t.Errorf("%d collectors moved because of a flapping instance", srv.unlocks-moved)
		}
	})
}

// When the database ends an instance's session, it stops everything at
// its next heartbeat, and the others take its collectors; it comes back
// with a new session and the shares settle again, never with a collector
// on two instances.
func TestLostSessionMovesCollectors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv := newFakeServer(t, collectors(6)...)
		in := newInstances(t, srv)
		defer in.stopAll()
		in.start("a")
		at(start, 300*time.Millisecond)
		in.start("b")
		at(start, 600*time.Millisecond)
		in.start("c")
		at(start, 20*time.Second)
		wantCounts(t, "three instances", srv, map[string]int{"a": 2, "b": 2, "c": 2})

		at(start, 20100*time.Millisecond)
		srv.kill("c") // c beats next at 20.6 s
		at(start, 20500*time.Millisecond)
		wantCounts(t, "c's session ended, before its heartbeat", srv, map[string]int{"a": 2, "b": 2, "c": 2})
		at(start, 20700*time.Millisecond)
		wantCounts(t, "c noticed", srv, map[string]int{"a": 2, "b": 2})
		// b saw c's collectors unowned at 20.3 s and 22.3 s, but c came
		// back at 21.6 s and is below its share: c takes them at 23.6 s.
		at(start, 23500*time.Millisecond)
		wantCounts(t, "c back, before its second sighting", srv, map[string]int{"a": 2, "b": 2})
		at(start, 23700*time.Millisecond)
		wantCounts(t, "c took its collectors back", srv, map[string]int{"a": 2, "b": 2, "c": 2})
		at(start, 60*time.Second)
		got := srv.counts()
		if !maps.Equal(got, map[string]int{"a": 2, "b": 2, "c": 2}) {
			t.Errorf("settled: %v, want 2 each", got)
		}
		if srv.double != 0 {
			t.Errorf("a collector ran on two instances %d times", srv.double)
		}
	})
}

// An instance whose heartbeats hang (a paused network, a stalled process)
// stops every collector when the fence (half the lease) has passed since
// its last successful heartbeat, not before.
func TestHungHeartbeatStopsAtTheFence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv := newFakeServer(t, collectors(3)...)
		in := newInstances(t, srv)
		defer in.stopAll()
		in.start("a")
		at(start, 10500*time.Millisecond)
		wantCounts(t, "a alone", srv, map[string]int{"a": 3})
		srv.hang("a") // the last heartbeat that succeeds was sent at 10 s
		at(start, 14900*time.Millisecond)
		wantCounts(t, "just before the fence", srv, map[string]int{"a": 3})
		at(start, 15100*time.Millisecond)
		wantCounts(t, "just after the fence", srv, map[string]int{})
	})
}

// A session that cannot be opened is retried after a heartbeat, doubling
// up to the lease, plus the jitter.
func TestRedialBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv := newFakeServer(t, collectors(1)...)
		var mu sync.Mutex
		var tries []time.Duration
		dial := func(context.Context) (Session, error) {
			mu.Lock()
			defer mu.Unlock()
			tries = append(tries, time.Since(start))
			return nil, ErrInstanceInUse
		}
		cfg := testConfig("a")
		cfg.Rand = func() float64 { return 0.5 } // a quarter more
		c, err := New(cfg, dial, srv.target("a"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { _ = c.Run(ctx) })
		at(start, 40*time.Second)
		cancel()
		wg.Wait()
		// Waits of 1, 2, 4, 8 s, then the lease (10 s), each a quarter more.
		want := []time.Duration{0, 1250 * time.Millisecond, 3750 * time.Millisecond, 8750 * time.Millisecond,
			18750 * time.Millisecond, 31250 * time.Millisecond}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(tries, want) {
			t.Errorf("dialled at %v, want %v", tries, want)
		}
	})
}

// An instance below its share that loses the race for a collector to
// another instance takes another unowned one in the same evaluation, so
// that the other instance does not end up with it as an orphan, above its
// share, and have to give it back (a collector moved twice).
func TestLostLockRaceTakesASpare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv := newFakeServer(t, collectors(4)...)
		// x: another live instance, which wins b's first lock race.
		x, err := srv.dialer("x", nil)(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		srv.mu.Lock()
		srv.thief = x.(*fakeSession)
		srv.mu.Unlock()
		in := newInstances(t, srv)
		defer in.stopAll()
		in.start("b") // evaluates at 0 s and 2 s: two sightings, share 2 of 4
		at(start, 2100*time.Millisecond)
		wantCounts(t, "b after its second sighting, one lock lost to x", srv, map[string]int{"b": 2})
		srv.mu.Lock()
		stolen := 0
		for _, h := range srv.lock {
			if h.id == "x" {
				stolen++
			}
		}
		srv.mu.Unlock()
		if stolen != 1 {
			t.Errorf("x holds %d collectors, want the 1 it took from under b", stolen)
		}
	})
}

package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
	"marketetl/store"
)

func migrated(t *testing.T) string {
	t.Helper()
	url := dbtest.NewDatabase(t)
	if err := store.Migrate(t.Context(), url, zaptest.NewLogger(t)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return url
}

func dial(t *testing.T, url, id string, lease time.Duration) *PGSession {
	t.Helper()
	s, err := Dial(t.Context(), SessionConfig{URL: url, InstanceID: id, StartedAt: time.Now(), Lease: lease, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("dial %s: %v", id, err)
	}
	t.Cleanup(func() { _ = s.Close(context.WithoutCancel(t.Context()), false) })
	return s
}

// within polls cond every 50 ms until it holds or bound passes: the
// database ends sessions on its own clock.
func within(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %s", what, bound)
		}
	}
}

// Locks are exclusive between sessions, shown in the view with their
// owner, released when the session closes; an instance id cannot be used
// by two live sessions.
func TestSessionLocks(t *testing.T) {
	url := migrated(t)
	ctx := t.Context()
	a := dial(t, url, "a", 10*time.Second)
	b := dial(t, url, "b", 10*time.Second)
	if _, err := Dial(ctx, SessionConfig{URL: url, InstanceID: "a", Lease: 10 * time.Second}); !errors.Is(err, ErrInstanceInUse) {
		t.Fatalf("second session as a: %v, want ErrInstanceInUse", err)
	}
	for _, step := range []struct {
		s    *PGSession
		name string
		want bool
	}{{a, "x", true}, {b, "x", false}, {b, "y", true}, {a, "y", false}} {
		got, err := step.s.TryLock(ctx, step.name)
		if err != nil || got != step.want {
			t.Fatalf("%s locks %s: %t, %v; want %t", step.s.id, step.name, got, err, step.want)
		}
	}
	if err := a.Heartbeat(ctx, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	v, err := b.View(ctx, []string{"x", "y", "z"})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(v.Live)
	if !slices.Equal(v.Live, []string{"a", "b"}) || len(v.Owner) != 2 || v.Owner["x"] != "a" || v.Owner["y"] != "b" {
		t.Fatalf("view = %+v", v)
	}
	if err := a.Close(ctx, false); err != nil {
		t.Fatal(err)
	}
	// The server ends a's backend, and releases its locks, just after
	// the connection closes.
	within(t, 10*time.Second, "b locking x after a closed", func() bool {
		got, err := b.TryLock(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		return got
	})
	// View cleared a's owned list once it was dead; a's row stays (it did
	// not leave), not live.
	if _, err := b.View(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ins, err := b.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || ins[0].ID != "a" || ins[0].Live || len(ins[0].Owned) != 0 || ins[1].ID != "b" || !ins[1].Live {
		t.Fatalf("instances = %+v", ins)
	}
	// A dead instance's row goes after a day; a live one's never.
	if _, err := b.conn.Exec(ctx, `UPDATE instances SET heartbeat_at = now() - interval '25 hours'`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.View(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ins, err = b.Instances(ctx); err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].ID != "b" {
		t.Fatalf("instances after a day = %+v, want only b", ins)
	}
	if err := b.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := b.Unlock(ctx, "x"); err == nil {
		t.Fatal("unlocking a lock not held: no error")
	}
}

// A session that sends nothing for its lease (a paused process, a
// vanished machine) is ended by the database, which releases its locks.
func TestSessionIdleBeyondLeaseIsEnded(t *testing.T) {
	url := migrated(t)
	ctx := t.Context()
	a := dial(t, url, "a", time.Second)
	b := dial(t, url, "b", 10*time.Second)
	if ok, err := a.TryLock(ctx, "x"); err != nil || !ok {
		t.Fatalf("a locks x: %t, %v", ok, err)
	}
	within(t, 15*time.Second, "a's session ended by the database", func() bool {
		ok, err := b.TryLock(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	if err := a.Heartbeat(ctx, nil); err == nil {
		t.Fatal("heartbeat on an ended session: no error")
	}
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
)

// fakeServer is the database as the coordinators see it: exclusive
// collector locks per session, live sessions, instance rows.
type fakeServer struct {
	t  *testing.T
	mu sync.Mutex
	// lock maps a collector to the session holding it.
	lock  map[string]*fakeSession
	live  map[string]*fakeSession
	owned map[string][]string
	// running maps a collector to the targets running it, to catch two
	// instances collecting the same stream.
	running map[string]map[*fakeTarget]bool
	// double counts moments a collector ran on two targets.
	double int
	// enabled is the collectors table's enabled collectors.
	enabled []string
	// unlocks counts released collector locks.
	unlocks int
	// thief, when set, is a live session that takes the next collector
	// another session tries to lock just before it does (another instance
	// winning the race between a View and a TryLock), once.
	thief *fakeSession
}

func newFakeServer(t *testing.T, enabled ...string) *fakeServer {
	return &fakeServer{t: t, lock: map[string]*fakeSession{}, live: map[string]*fakeSession{},
		owned: map[string][]string{}, running: map[string]map[*fakeTarget]bool{}, enabled: enabled}
}

// errGone is what a killed session answers.
var errGone = errors.New("session gone")

type fakeSession struct {
	srv *fakeServer
	id  string
	t   *fakeTarget
	// gone: the server ended the session.
	gone bool
	// block makes Heartbeat wait for its context (a hung network).
	block bool
}

func (s *fakeServer) dialer(id string, t *fakeTarget) Dialer {
	return func(ctx context.Context) (Session, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.live[id]; ok {
			return nil, ErrInstanceInUse
		}
		ss := &fakeSession{srv: s, id: id, t: t}
		s.live[id] = ss
		return ss, nil
	}
}

// kill ends id's session as the database would: its locks are released.
func (s *fakeServer) kill(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.live[id]
	if ss == nil {
		return
	}
	s.endLocked(ss)
}

func (s *fakeServer) endLocked(ss *fakeSession) {
	ss.gone = true
	delete(s.live, ss.id)
	delete(s.owned, ss.id)
	for n, h := range s.lock {
		if h == ss {
			delete(s.lock, n)
		}
	}
}

// hang makes id's heartbeats hang until their deadline.
func (s *fakeServer) hang(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live[id].block = true
}

func (ss *fakeSession) Heartbeat(ctx context.Context, owned []string) error {
	ss.srv.mu.Lock()
	if ss.gone {
		ss.srv.mu.Unlock()
		return errGone
	}
	if ss.block {
		ss.srv.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	defer ss.srv.mu.Unlock()
	ss.srv.owned[ss.id] = append([]string(nil), owned...)
	return nil
}

func (ss *fakeSession) TryLock(_ context.Context, name string) (bool, error) {
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	if ss.gone {
		return false, errGone
	}
	if th := ss.srv.thief; th != nil && th != ss {
		ss.srv.thief = nil
		ss.srv.lock[name] = th
	}
	if h, ok := ss.srv.lock[name]; ok {
		return h == ss, nil
	}
	ss.srv.lock[name] = ss
	return true, nil
}

func (ss *fakeSession) Unlock(_ context.Context, name string) error {
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	if ss.gone {
		return errGone
	}
	if ss.srv.running[name][ss.t] {
		ss.srv.t.Errorf("%s unlocked %s while still running it", ss.id, name)
	}
	if ss.srv.lock[name] != ss {
		return fmt.Errorf("unlock %s: not held", name)
	}
	delete(ss.srv.lock, name)
	ss.srv.unlocks++
	return nil
}

func (ss *fakeSession) View(_ context.Context, names []string) (View, error) {
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	if ss.gone {
		return View{}, errGone
	}
	v := View{Owner: map[string]string{}}
	for id := range ss.srv.live {
		v.Live = append(v.Live, id)
	}
	sort.Strings(v.Live)
	for _, n := range names {
		if h, ok := ss.srv.lock[n]; ok {
			v.Owner[n] = h.id
		}
	}
	return v, nil
}

func (ss *fakeSession) Instances(context.Context) ([]Instance, error) {
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	if ss.gone {
		return nil, errGone
	}
	var out []Instance
	for id := range ss.srv.live {
		out = append(out, Instance{ID: id, Owned: ss.srv.owned[id], Live: true})
	}
	return out, nil
}

func (ss *fakeSession) Close(context.Context, bool) error {
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	if !ss.gone {
		ss.srv.endLocked(ss)
	}
	return nil
}

// fakeTarget is one instance's supervisor: it "runs" what it owns.
type fakeTarget struct {
	srv *fakeServer
	id  string
	// sess is the session whose locks guard what it runs.
	sess func() *fakeSession
	run  map[string]bool
}

func (s *fakeServer) target(id string) *fakeTarget {
	return &fakeTarget{srv: s, id: id, run: map[string]bool{}}
}

func (t *fakeTarget) Sync(context.Context) ([]string, error) {
	t.srv.mu.Lock()
	defer t.srv.mu.Unlock()
	return append([]string(nil), t.srv.enabled...), nil
}

func (t *fakeTarget) Own(_ context.Context, names []string) error {
	t.srv.mu.Lock()
	defer t.srv.mu.Unlock()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for n := range t.run {
		if !want[n] {
			delete(t.run, n)
			delete(t.srv.running[n], t)
		}
	}
	on := map[string]bool{}
	for _, n := range t.srv.enabled {
		on[n] = true
	}
	for n := range want {
		if !on[n] || t.run[n] {
			continue
		}
		if h := t.srv.lock[n]; h == nil || h.t != t {
			t.srv.t.Errorf("%s started %s without holding its lock", t.id, n)
		}
		t.run[n] = true
		if t.srv.running[n] == nil {
			t.srv.running[n] = map[*fakeTarget]bool{}
		}
		t.srv.running[n][t] = true
		if len(t.srv.running[n]) > 1 {
			t.srv.double++
		}
	}
	return nil
}

// counts returns how many collectors each instance runs, by id.
func (s *fakeServer) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, ts := range s.running {
		for t := range ts {
			out[t.id]++
		}
	}
	return out
}

// unowned returns the enabled collectors nobody runs.
func (s *fakeServer) unowned() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.enabled {
		if len(s.running[n]) == 0 {
			out = append(out, n)
		}
	}
	return out
}

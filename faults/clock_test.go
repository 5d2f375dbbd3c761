package faults

import (
	"fmt"
	"testing"
	"time"

	"marketetl/market"
	"marketetl/sim"
)

// clockSkew runs the exchange with its clock offset from the host's:
// offset > 0 is a host clock that is behind the exchange's, offset < 0 one
// that is ahead. The database must then hold exactly the truth, and no
// trade may be refused for its time.
func clockSkew(t *testing.T, s *scenario, offset time.Duration) {
	exs := market.Exchanges()
	// Exchange time runs up to the exchange's clock: 100 ms a tick from
	// 2 s before it, so that its trades are as fresh as a live feed's and,
	// with the host 10 s behind, the very first ones are already further
	// ahead of the host's clock than VALIDATE_CLOCK_SKEW: nothing has been
	// measured from trades yet when they arrive.
	r := startRig(t, rigOpts{exchanges: exs, sim: func(c *sim.Config) {
		c.Now = func() time.Time { return time.Now().Add(offset) }
		c.Start = c.Now().Add(-2 * time.Second)
		c.Step = 100 * time.Millisecond
	}})
	s.watch(r)
	start := time.Now()
	r.step(80)
	eventually(t, "the database to equal the exchange's truth", func() (bool, string) {
		c := r.count()
		return c.stored == c.wantStored && c.duplicates == 0, c.String()
	})
	s.finish(r, time.Since(start), 0)
	rej := r.pipe.Counts().Rejected
	if n := rej["timestamp_in_future"] + rej["timestamp_too_old"]; n != 0 {
		t.Errorf("%d records refused for their time (%v)", n, rej)
	}
	s.res.Note = fmt.Sprintf("exchange clock %+v from the host's; no record refused for its time", offset)
}

// Scenario 21: the host's clock is 10 s behind the exchanges': their
// times are 10 s in the host's future.
func TestHostClockBehind(t *testing.T) {
	s := newScenario(t, 21)
	if !haveSkewTolerance {
		s.skip(whySkew)
	}
	clockSkew(t, s, 10*time.Second)
}

// Scenario 22: the host's clock is 10 s ahead of the exchanges'.
func TestHostClockAhead(t *testing.T) {
	s := newScenario(t, 22)
	clockSkew(t, s, -10*time.Second)
}

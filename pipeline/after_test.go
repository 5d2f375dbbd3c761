package pipeline

import (
	"errors"
	"testing"
	"time"

	"marketetl/market"
	"marketetl/validate"
)

// checkOnly is a Checker without CheckAfter that refuses every record.
type checkOnly struct{ checks int }

func (c *checkOnly) Check(market.Record) *validate.Rejection {
	c.checks++
	return &validate.Rejection{Reason: validate.NonPositivePrice, Field: "price"}
}

// checkAfter also has CheckAfter, and remembers the reading it was given.
type checkAfter struct {
	checkOnly
	earlier []time.Time
}

func (c *checkAfter) CheckAfter(_ market.Record, earlier time.Time) *validate.Rejection {
	c.earlier = append(c.earlier, earlier)
	return &validate.Rejection{Reason: validate.TimestampInFuture, Field: "ts"}
}

// TestAcceptAfter checks that AcceptAfter hands the caller's reading to a
// Checker that takes it, and checks as Accept does otherwise; refusals
// are kept the same way.
func TestAcceptAfter(t *testing.T) {
	read := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	t.Run("CheckAfter", func(t *testing.T) {
		c, st := &checkAfter{}, &fakeStore{}
		p, err := New(Config{Checker: c, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		err = p.AcceptAfter(t.Context(), trade("10"), read)
		if !errors.Is(err, market.ErrRejected) {
			t.Fatalf("AcceptAfter: %v, want a rejection", err)
		}
		if len(c.earlier) != 1 || !c.earlier[0].Equal(read) || c.checks != 0 {
			t.Errorf("CheckAfter readings %v, Check calls %d: want [%s] and 0", c.earlier, c.checks, read)
		}
		if len(st.rejected) != 1 || st.rejected[0].Reason != string(validate.TimestampInFuture) || len(st.written) != 0 {
			t.Errorf("rejects %+v, written %d", st.rejected, len(st.written))
		}
	})
	t.Run("Check", func(t *testing.T) {
		c, st := &checkOnly{}, &fakeStore{}
		p, err := New(Config{Checker: c, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AcceptAfter(t.Context(), trade("10"), read); !errors.Is(err, market.ErrRejected) {
			t.Fatalf("AcceptAfter: %v, want a rejection", err)
		}
		if c.checks != 1 || len(st.rejected) != 1 || st.rejected[0].Reason != string(validate.NonPositivePrice) {
			t.Errorf("Check calls %d, rejects %+v", c.checks, st.rejected)
		}
	})
	t.Run("accepted", func(t *testing.T) {
		v, err := validate.New(validate.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		st := &fakeStore{}
		p, err := New(Config{Checker: v, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AcceptAfter(t.Context(), trade("10"), time.Now()); err != nil {
			t.Fatal(err)
		}
		if len(st.written) != 1 || p.Counts().Accepted != 1 {
			t.Errorf("written %d, accepted %d", len(st.written), p.Counts().Accepted)
		}
	})
}

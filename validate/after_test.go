package validate

import (
	"testing"
	"time"

	"marketetl/market"
)

// TestCheckAfter checks that CheckAfter answers as Check does, reading the
// clock only for a record ahead of the caller's earlier reading.
func TestCheckAfter(t *testing.T) {
	ahead := func(d time.Duration) *market.Trade {
		tr := goodTrade()
		tr.Time = now.Add(d)
		return tr
	}
	closedNow := goodCandle() // ends at now - 30s
	tests := []struct {
		name    string
		rec     market.Record
		earlier time.Time
		reads   int    // clock readings CheckAfter makes
		reason  Reason // "" when accepted
	}{
		{name: "accepted at the earlier reading", rec: goodTrade(), earlier: now, reads: 0},
		{name: "ahead of the earlier reading, not of the clock", rec: ahead(DefaultClockSkew), earlier: now.Add(-time.Second), reads: 1},
		{name: "ahead of the clock", rec: ahead(DefaultClockSkew + time.Nanosecond), earlier: now.Add(-time.Second), reads: 1, reason: TimestampInFuture},
		{name: "closed after the earlier reading, before the clock", rec: closedNow, earlier: now.Add(-time.Minute), reads: 1},
		{name: "refused for another rule at the earlier reading", rec: func() market.Record { tr := goodTrade(); tr.TradeID = ""; return tr }(), earlier: now.Add(-time.Second), reads: 0, reason: EmptyTradeID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads := 0
			v, err := New(Config{}, func() time.Time { reads++; return now })
			if err != nil {
				t.Fatal(err)
			}
			v.wall = true // as if now were the wall clock
			want := v.Check(tt.rec)
			reads = 0
			got := v.CheckAfter(tt.rec, tt.earlier)
			if reads != tt.reads {
				t.Errorf("%d clock readings, want %d", reads, tt.reads)
			}
			switch {
			case got == nil && want == nil && tt.reason == "":
			case got == nil || want == nil:
				t.Fatalf("CheckAfter %v, Check %v, want reason %q", got, want, tt.reason)
			case *got != *want || got.Reason != tt.reason:
				t.Errorf("CheckAfter %s, Check %s, want reason %q", got, want, tt.reason)
			}
		})
	}
}

// TestCheckAfterOtherClock checks that a validator reading another clock
// than the wall clock ignores the caller's reading.
func TestCheckAfterOtherClock(t *testing.T) {
	v, err := New(Config{}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	tr := goodTrade()
	tr.Time = now.Add(time.Hour)
	r := v.CheckAfter(tr, now.Add(2*time.Hour))
	if r == nil || r.Reason != TimestampInFuture {
		t.Fatalf("a trade an hour ahead of the validator's clock: %v, want %s", r, TimestampInFuture)
	}
}

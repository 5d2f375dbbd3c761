package book

import (
	"errors"
	"fmt"
	"testing"
)

func ev(first, last int64) DepthEvent { return DepthEvent{FirstID: first, LastID: last} }

// binanceStep is an event (U..u) or, with snapshot set, a REST snapshot's
// lastUpdateId.
type binanceStep struct {
	snapshot bool
	first    int64 // U, or lastUpdateId
	last     int64 // u
	// want is what the step reports: applied event ranges "U-u" in order,
	// "buffered", "ignored", "stale" or "break".
	want string
}

func TestBinanceSync(t *testing.T) {
	tests := []struct {
		name  string
		steps []binanceStep
	}{
		{"documented example: the event at u=160 is already in the snapshot", []binanceStep{
			{first: 157, last: 160, want: "buffered"},
			{first: 161, last: 165, want: "buffered"},
			{snapshot: true, first: 160, want: "[161-165]"},
			{first: 166, last: 170, want: "[166-170]"},
		}},
		{"first kept event straddles lastUpdateId+1", []binanceStep{
			{first: 100, last: 110, want: "buffered"},
			{first: 111, last: 120, want: "buffered"},
			{snapshot: true, first: 105, want: "[100-110 111-120]"},
			{first: 121, last: 121, want: "[121-121]"},
		}},
		{"snapshot before the first buffered U: fetch again", []binanceStep{
			{first: 100, last: 110, want: "buffered"},
			{snapshot: true, first: 99, want: "stale"},
			{first: 111, last: 112, want: "buffered"},
			{snapshot: true, first: 111, want: "[111-112]"},
		}},
		{"snapshot first, then events: stale events ignored, the covering one applied", []binanceStep{
			{snapshot: true, first: 50, want: "[]"},
			{first: 40, last: 50, want: "ignored"},
			{first: 48, last: 52, want: "[48-52]"},
			{first: 53, last: 53, want: "[53-53]"},
		}},
		{"snapshot first, then an event past lastUpdateId+1", []binanceStep{
			{snapshot: true, first: 50, want: "[]"},
			{first: 52, last: 60, want: "stale"},
			{snapshot: true, first: 55, want: "[52-60]"},
		}},
		{"a missed event breaks, and the breaking event starts the new buffer", []binanceStep{
			{snapshot: true, first: 10, want: "[]"},
			{first: 11, last: 12, want: "[11-12]"},
			{first: 14, last: 15, want: "break"},
			{first: 16, last: 17, want: "buffered"},
			{snapshot: true, first: 15, want: "[16-17]"},
		}},
		{"an overlapping event breaks (U must be exactly u+1)", []binanceStep{
			{snapshot: true, first: 10, want: "[]"},
			{first: 11, last: 12, want: "[11-12]"},
			{first: 12, last: 13, want: "break"},
		}},
		{"a repeated event is ignored", []binanceStep{
			{snapshot: true, first: 10, want: "[]"},
			{first: 11, last: 12, want: "[11-12]"},
			{first: 11, last: 12, want: "ignored"},
			{first: 13, last: 13, want: "[13-13]"},
		}},
		{"a gap inside the buffer breaks at the snapshot", []binanceStep{
			{first: 10, last: 12, want: "buffered"},
			{first: 15, last: 16, want: "buffered"},
			{first: 17, last: 18, want: "buffered"},
			{snapshot: true, first: 11, want: "break"},
			{snapshot: true, first: 15, want: "[15-16 17-18]"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s BinanceSync
			for i, st := range tt.steps {
				var got string
				if st.snapshot {
					evs, err := s.Snapshot(st.first)
					got = outcome(err)
					if err == nil {
						got = ranges(evs)
					}
				} else {
					e := ev(st.first, st.last)
					before := s.state
					apply, err := s.Event(e)
					switch got = outcome(err); {
					case err != nil:
					case apply:
						got = ranges([]DepthEvent{e})
					case before == buffering:
						got = "buffered"
					default:
						got = "ignored"
					}
				}
				if got != st.want {
					t.Fatalf("step %d: %s, want %s", i, got, st.want)
				}
			}
		})
	}
}

func TestBinanceSyncBufferBound(t *testing.T) {
	s := BinanceSync{MaxBuffer: 3}
	for i := range int64(5) {
		if _, err := s.Event(ev(10*i+1, 10*i+10)); err != nil {
			t.Fatal(err)
		}
	}
	// Events 1-10 and 11-20 were dropped: a snapshot at 15 is now stale.
	if _, err := s.Snapshot(15); !errors.Is(err, ErrSnapshotStale) {
		t.Fatalf("snapshot 15: %v, want stale", err)
	}
	evs, err := s.Snapshot(25)
	if err != nil || ranges(evs) != "[21-30 31-40 41-50]" {
		t.Fatalf("snapshot 25: %s %v", ranges(evs), err)
	}
	if last, ok := s.Synced(); !ok || last != 50 {
		t.Errorf("synced %d %v", last, ok)
	}
}

func outcome(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrSnapshotStale):
		return "stale"
	case errors.Is(err, ErrSequenceBreak):
		return "break"
	}
	return err.Error()
}

func ranges(evs []DepthEvent) string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%d-%d", e.FirstID, e.LastID))
	}
	return fmt.Sprint(out)
}

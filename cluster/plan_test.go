package cluster

import (
	"maps"
	"slices"
	"testing"
)

func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		live  []string
		owned map[string]int
		n     int
		want  map[string]int
	}{
		{"even", []string{"a", "b", "c"}, nil, 6, map[string]int{"a": 2, "b": 2, "c": 2}},
		{"remainder to the ids first when nobody owns", []string{"c", "a", "b"}, nil, 7, map[string]int{"a": 3, "b": 2, "c": 2}},
		{"remainder to who owns most", []string{"a", "b", "c"}, map[string]int{"c": 4, "b": 3}, 7, map[string]int{"a": 2, "b": 2, "c": 3}},
		{"more instances than collectors", []string{"a", "b", "c"}, map[string]int{"b": 1}, 2, map[string]int{"a": 1, "b": 1, "c": 0}},
		{"none", nil, nil, 3, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := targets(tc.live, tc.owned, tc.n); !maps.Equal(got, tc.want) {
				t.Errorf("targets = %v, want %v", got, tc.want)
			}
		})
	}
}

// Two instances taking collectors at once try them in different orders.
func TestAcquireOrderDiffersByInstance(t *testing.T) {
	all := []string{"c1", "c2", "c3", "c4", "c5", "c6"}
	v := View{Live: []string{"a", "b", "x"}, Owner: map[string]string{}}
	first := map[string]string{}
	for _, id := range []string{"a", "b"} {
		p := newPlanner(id, 2)
		p.next(all, nil, v)
		d := p.next(all, nil, v)
		if len(d.Acquire) != 2 {
			t.Fatalf("%s acquires %v, want 2", id, d.Acquire)
		}
		first[id] = d.Acquire[0]
	}
	if first["a"] == first["b"] {
		t.Errorf("a and b both try %s first", first["a"])
	}
}

func TestPlannerNext(t *testing.T) {
	all := []string{"c1", "c2", "c3", "c4"}
	for _, tc := range []struct {
		name    string
		enabled []string
		mine    []string
		view    View
		rounds  int // evaluations with the same input; the last is checked
		want    Decision
	}{
		{"alone takes everything seen unowned twice", all, nil, View{Live: []string{"a"}}, 2,
			Decision{Target: 4, Acquire: all}},
		{"nothing seen unowned once only", all, nil, View{Live: []string{"a"}}, 1,
			Decision{Target: 4}},
		{"below share takes unowned only", all, nil,
			View{Live: []string{"a", "b"}, Owner: map[string]string{"c1": "b", "c2": "b", "c3": "b"}}, 2,
			Decision{Target: 2, Acquire: []string{"c4"}}},
		{"above share waits one round", all, all, View{Live: []string{"a", "b"}}, 1,
			Decision{Target: 2}},
		{"above share releases the last by name after two", all, all, View{Live: []string{"a", "b"}}, 2,
			Decision{Target: 2, Release: []string{"c3", "c4"}}},
		{"disabled released at once", []string{"c1"}, []string{"c1", "c2"}, View{Live: []string{"a"}}, 1,
			Decision{Target: 1, Release: []string{"c2"}}},
		{"orphan taken beyond share after four rounds", all, []string{"c1", "c2"},
			View{Live: []string{"a", "b"}, Owner: map[string]string{"c3": "b"}}, 4,
			Decision{Target: 2, Acquire: []string{"c4"}}},
		{"orphan not taken beyond share after three rounds", all, []string{"c1", "c2"},
			View{Live: []string{"a", "b"}, Owner: map[string]string{"c3": "b"}}, 3,
			Decision{Target: 2}},
		{"the other unowned are spares below share", all, []string{"c1"},
			View{Live: []string{"a", "b"}, Owner: map[string]string{"c2": "b"}}, 2,
			Decision{Target: 2, Acquire: []string{"c4"}, Spare: []string{"c3"}}},
		{"no spares at share", all, []string{"c1", "c2"},
			View{Live: []string{"a", "b"}, Owner: map[string]string{"c3": "b"}}, 2,
			Decision{Target: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlanner("a", 2)
			var d Decision
			for range tc.rounds {
				d = p.next(tc.enabled, tc.mine, tc.view)
			}
			// Acquisitions are tried in the instance's own order.
			acquire := slices.Sorted(slices.Values(d.Acquire))
			if tc.want.Spare != nil {
				// One of the two is tried first, by the instance's order.
				acquire = slices.Sorted(slices.Values(append(acquire[:len(acquire):len(acquire)], d.Spare...)))
				want := slices.Sorted(slices.Values(append(slices.Clone(tc.want.Acquire), tc.want.Spare...)))
				if len(d.Acquire) != len(tc.want.Acquire) || !slices.Equal(acquire, want) {
					t.Errorf("next = %+v, want %d to acquire and the rest spare of %v", d, len(tc.want.Acquire), want)
				}
				return
			}
			if len(d.Spare) != 0 {
				t.Errorf("next = %+v, want no spares", d)
			}
			if d.Target != tc.want.Target || !slices.Equal(acquire, tc.want.Acquire) || !slices.Equal(d.Release, tc.want.Release) {
				t.Errorf("next = %+v, want %+v", d, tc.want)
			}
		})
	}
}

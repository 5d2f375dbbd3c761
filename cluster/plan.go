package cluster

import (
	"hash/fnv"
	"sort"
)

// View is what one evaluation sees of the cluster, read from the
// database's lock table: who is alive and who owns what.
type View struct {
	// Live are the instances holding their instance lock, self included,
	// by instance id.
	Live []string
	// Owner maps each collector whose lock is held to the instance holding
	// it. Collectors not in it are unowned.
	Owner map[string]string
}

// Decision is what one evaluation decided for this instance.
type Decision struct {
	// Target is this instance's share of the enabled collectors.
	Target int
	// Acquire are unowned collectors to try to lock, in order.
	Acquire []string
	// Spare are further unowned collectors, in order, each tried in place
	// of one of Acquire whose lock another instance took first: two
	// instances below their share that try the same collector at once
	// both reach their share in this evaluation, rather than the loser
	// waiting for the next one while the winner, at its share, takes the
	// rest as orphans and has to give them back.
	Spare []string
	// Release are owned collectors to stop and unlock, in order.
	Release []string
}

// planner decides, evaluation after evaluation, which collectors this
// instance takes and gives up. It keeps the hysteresis state between
// evaluations and does no I/O.
type planner struct {
	self string
	// rounds is how many consecutive evaluations a condition must hold
	// before it is acted on (Config.Hysteresis).
	rounds int
	// over counts the consecutive evaluations this instance was above its
	// target.
	over int
	// orphaned counts, per collector, the consecutive evaluations it was
	// enabled and unowned.
	orphaned map[string]int
}

func newPlanner(self string, rounds int) *planner {
	return &planner{self: self, rounds: rounds, orphaned: map[string]int{}}
}

// targets returns every live instance's share of n collectors: each gets
// n/k or n/k+1 (k live instances), and the n%k larger shares go to the
// instances that own the most now (ties broken by instance id), so that
// reaching the shares moves as few collectors as possible.
func targets(live []string, owned map[string]int, n int) map[string]int {
	out := make(map[string]int, len(live))
	k := len(live)
	if k == 0 {
		return out
	}
	order := append([]string(nil), live...)
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if owned[a] != owned[b] {
			return owned[a] > owned[b]
		}
		return a < b
	})
	q, r := n/k, n%k
	for i, id := range order {
		out[id] = q
		if i < r {
			out[id] = q + 1
		}
	}
	return out
}

// next decides for one evaluation: enabled are the enabled collectors,
// mine those this instance holds, v the cluster as the database shows it.
//
//   - Collectors this instance holds that are no longer enabled are
//     released at once.
//   - Below its target, the instance acquires collectors that were unowned
//     at Hysteresis consecutive evaluations, up to its target. Waiting for
//     a second sighting (at least Rebalance >= Heartbeat later) gives an
//     instance whose session the database has just ended the time of one
//     heartbeat to notice and stop the collector first.
//     Further such collectors are Spare, tried in place of those whose
//     lock another instance took first.
//   - At its target, it also takes a collector that has been unowned for
//     two evaluations more (its would-be owner is not taking it), up to
//     n/k+1. Two more, not one: an instance below its share whose
//     evaluations run late (a loaded machine) must get its chance first,
//     or the collector goes to an instance that then holds more than its
//     share and must release it again, two hysteresis rounds later.
//   - Above its target for Hysteresis consecutive evaluations, it releases
//     the excess: the collectors last by name.
func (p *planner) next(enabled []string, mine []string, v View) Decision {
	on := make(map[string]bool, len(enabled))
	for _, n := range enabled {
		on[n] = true
	}
	var d Decision
	var kept []string
	for _, n := range sorted(mine) {
		if on[n] {
			kept = append(kept, n)
		} else {
			d.Release = append(d.Release, n)
		}
	}
	live := append([]string(nil), v.Live...)
	if !contains(live, p.self) {
		live = append(live, p.self)
	}
	owned := map[string]int{}
	for n, id := range v.Owner {
		if on[n] && id != p.self {
			owned[id]++
		}
	}
	owned[p.self] = len(kept)
	t := targets(live, owned, len(enabled))
	d.Target = t[p.self]

	var unowned []string
	seen := map[string]bool{}
	for _, n := range sorted(enabled) {
		if _, held := v.Owner[n]; held || contains(kept, n) {
			continue
		}
		unowned = append(unowned, n)
		seen[n] = true
		p.orphaned[n]++
	}
	for n := range p.orphaned {
		if !seen[n] {
			delete(p.orphaned, n)
		}
	}

	have := len(kept)
	if have > d.Target {
		p.over++
		if p.over >= p.rounds {
			d.Release = append(d.Release, kept[d.Target:]...)
			p.over = 0
		}
		return d
	}
	p.over = 0
	limit := len(enabled)/len(live) + 1
	// Each instance tries the unowned collectors in its own order (by a
	// hash of its id and the name), so that instances taking collectors
	// at the same moment mostly try different ones.
	sort.SliceStable(unowned, func(i, j int) bool { return p.rank(unowned[i]) < p.rank(unowned[j]) })
	below := have < d.Target
	for _, n := range unowned {
		switch {
		case have < d.Target && p.orphaned[n] >= p.rounds:
		case have < limit && p.orphaned[n] > p.rounds+1:
		default:
			if below && p.orphaned[n] >= p.rounds {
				d.Spare = append(d.Spare, n)
			}
			continue
		}
		d.Acquire = append(d.Acquire, n)
		have++
	}
	return d
}

// rank orders name for this instance.
func (p *planner) rank(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(p.self))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return h.Sum32()
}

func sorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package book

import (
	"cmp"
	"slices"

	"marketetl/market"
)

// side is one side of a book: keys ascending (worst price first, best
// last) and, at the same index, the slot in levels holding that key's
// level. Freed slots are reused.
type side struct {
	keys   []int64
	slots  []int32
	levels []market.Level
	free   []int32
}

func (s *side) reset() {
	s.keys, s.slots = s.keys[:0], s.slots[:0]
	clear(s.levels) // drop the decimals' memory
	s.levels, s.free = s.levels[:0], s.free[:0]
}

// search returns the index of k in keys, or where it would be inserted.
func (s *side) search(k int64) (int, bool) {
	keys := s.keys
	// Most changes are near the best price, at the end: check it first.
	n := len(keys)
	if n > 0 && keys[n-1] < k {
		return n, false
	}
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if keys[m] < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < n && keys[lo] == k
}

// set stores l under key k; it reports whether the level is new.
func (s *side) set(k int64, l market.Level) bool {
	i, found := s.search(k)
	if found {
		s.levels[s.slots[i]] = l
		return false
	}
	var slot int32
	if n := len(s.free); n > 0 {
		slot = s.free[n-1]
		s.free = s.free[:n-1]
		s.levels[slot] = l
	} else {
		slot = int32(len(s.levels))
		s.levels = append(s.levels, l)
	}
	s.keys = append(s.keys, 0)
	s.slots = append(s.slots, 0)
	copy(s.keys[i+1:], s.keys[i:])
	copy(s.slots[i+1:], s.slots[i:])
	s.keys[i], s.slots[i] = k, slot
	return true
}

// remove deletes key k if present.
func (s *side) remove(k int64) {
	i, found := s.search(k)
	if !found {
		return
	}
	slot := s.slots[i]
	s.levels[slot] = market.Level{}
	s.free = append(s.free, slot)
	copy(s.keys[i:], s.keys[i+1:])
	copy(s.slots[i:], s.slots[i+1:])
	s.keys = s.keys[:len(s.keys)-1]
	s.slots = s.slots[:len(s.slots)-1]
}

func (s *side) bestKey() int64 {
	if len(s.keys) == 0 {
		return 0
	}
	return s.keys[len(s.keys)-1]
}

func (s *side) best() market.Level { return s.levels[s.slots[len(s.slots)-1]] }

// top appends the best n levels (all when n <= 0), best first, to dst.
func (s *side) top(n int, dst []market.Level) []market.Level {
	if n <= 0 || n > len(s.slots) {
		n = len(s.slots)
	}
	for i := len(s.slots) - 1; i >= len(s.slots)-n; i-- {
		dst = append(dst, s.levels[s.slots[i]])
	}
	return dst
}

// sortKeys sorts keys ascending, keeping each slot beside its key.
func (s *side) sortKeys() {
	if slices.IsSorted(s.keys) {
		return
	}
	type entry struct {
		key  int64
		slot int32
	}
	es := make([]entry, len(s.keys))
	for i := range es {
		es[i] = entry{s.keys[i], s.slots[i]}
	}
	slices.SortFunc(es, func(a, b entry) int { return cmp.Compare(a.key, b.key) })
	for i, e := range es {
		s.keys[i], s.slots[i] = e.key, e.slot
	}
}

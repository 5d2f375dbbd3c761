package collector

import (
	"strconv"
	"testing"
)

// TestIDRing: the ring remembers the last dedupWindow ids of any form,
// numbers and texts apart ("7" and "007" are different ids), finds a
// duplicate below the greatest id, and forgets the oldest id once full.
func TestIDRing(t *testing.T) {
	var r idRing
	for _, id := range []string{"7", "007", "abc", "0", "9", "123456789012345678", "1234567890123456789"} {
		if !r.add(id) {
			t.Fatalf("%q: new id seen as a duplicate", id)
		}
	}
	for _, id := range []string{"7", "007", "abc", "0", "9", "123456789012345678", "1234567890123456789"} {
		if r.add(id) {
			t.Fatalf("%q: duplicate seen as new", id)
		}
	}
	if !r.add("8") {
		t.Fatal(`"8", below the greatest id, seen as a duplicate`)
	}
	// 7 ids + "8" are held; fill the window with numbers, then one more:
	// "7", the oldest, is forgotten, "007" (next oldest) too after another.
	for i := range dedupWindow - 8 {
		if !r.add(strconv.Itoa(1_000_000 + i)) {
			t.Fatalf("id %d seen as a duplicate", i)
		}
	}
	if r.add("7") || r.add("007") {
		t.Fatal("ids within the window seen as new")
	}
	r.add("x1")
	if !r.add("7") {
		t.Fatal(`"7" still remembered after dedupWindow newer ids`)
	}
	if r.add("abc") {
		t.Fatal(`"abc" forgotten too early`)
	}
}

package market

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestGapReasonsMatchREADME: README's table of gap reasons lists exactly
// GapReasons, in order.
func TestGapReasonsMatchREADME(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	head := regexp.MustCompile(`(?m)^\| reason \| recorded when \|\n\|---\|---\|\n((?:\|.*\n)+)`).FindSubmatch(data)
	if head == nil {
		t.Fatal("README has no table of gap reasons (| reason | recorded when |)")
	}
	var documented []GapReason
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllSubmatch(head[1], -1) {
		documented = append(documented, GapReason(m[1]))
	}
	if want := GapReasons(); !slices.Equal(documented, want) {
		t.Errorf("README's gap reasons %v, want %v", documented, want)
	}
}

package spool

import (
	"strconv"
	"sync"
	"testing"

	"marketetl/market"
)

// TestStreamTable checks that every stream keeps its one set of marks
// while the table grows and rebuilds its read map, with lookups from
// several goroutines, and that each visits every stream once.
func TestStreamTable(t *testing.T) {
	var tab streamTable
	streams := make([]market.Stream, 300)
	for i := range streams {
		streams[i] = market.Stream{Exchange: market.OKX, Symbol: market.Symbol("S" + strconv.Itoa(i) + "-USDT"), Type: market.TypeTrade}
	}
	const workers = 4
	got := make([][]*streamMarks, workers)
	var wg sync.WaitGroup
	for w := range workers {
		got[w] = make([]*streamMarks, len(streams))
		wg.Go(func() {
			// Each worker adds the streams in its own order (a
			// multiplier prime to their number), three times over.
			mul := []int{1, 7, 11, 13}[w]
			for round := range 3 {
				for j := range streams {
					i := (j*mul + round) % len(streams)
					sm := tab.get(streams[i])
					if got[w][i] == nil {
						got[w][i] = sm
					} else if got[w][i] != sm {
						t.Errorf("worker %d: stream %d has two sets of marks", w, i)
					}
				}
			}
		})
	}
	wg.Wait()
	seen := map[*streamMarks]int{}
	for i := range streams {
		for w := range workers {
			if got[w][i] != got[0][i] {
				t.Fatalf("stream %d: workers %d and 0 hold different marks", i, w)
			}
		}
		if j, dup := seen[got[0][i]]; dup {
			t.Fatalf("streams %d and %d share marks", j, i)
		}
		seen[got[0][i]] = i
	}
	visited := map[market.Stream]*streamMarks{}
	tab.each(func(s market.Stream, sm *streamMarks) { visited[s] = sm })
	if len(visited) != len(streams) {
		t.Fatalf("each visited %d streams, want %d", len(visited), len(streams))
	}
	for i, s := range streams {
		if visited[s] != got[0][i] {
			t.Errorf("each gave stream %d other marks", i)
		}
	}
	if m := tab.read.Load(); m == nil || len(*m) == 0 {
		t.Error("the read map was never built")
	}
}

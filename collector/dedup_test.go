package collector

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"marketetl/market"
)

func idTrade(id string) *market.Trade {
	return &market.Trade{Meta: market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD"}, TradeID: id}
}

// TestDedupRemembersTheLastWindowOfIDs: an id seen again within the last
// dedupWindow ids is dropped; ids are compared as text ("7" and "007"
// differ); the oldest is forgotten once dedupWindow newer ones came.
func TestDedupRemembersTheLastWindowOfIDs(t *testing.T) {
	d := newDedup()
	s := tradeStream("BTC-USD")
	for _, id := range []string{"7", "007", "x-1", "18446744073709551615", "18446744073709551616"} {
		if d.seen(s, idTrade(id)) {
			t.Errorf("id %s: dropped the first time", id)
		}
		if !d.seen(s, idTrade(id)) {
			t.Errorf("id %s: handed on twice", id)
		}
	}
	if d.seen(tradeStream("ETH-USD"), idTrade("7")) {
		t.Error("an id of another stream was dropped")
	}
	// Sequential ids 8 to 7+dedupWindow-1, one missing: 7 is still within
	// the last dedupWindow ids, and the missing one is new when it comes
	// late.
	for i := 8; i < 7+dedupWindow; i++ {
		if i == 100 {
			continue
		}
		if d.seen(s, idTrade(strconv.Itoa(i))) {
			t.Fatalf("id %d dropped the first time", i)
		}
	}
	if !d.seen(s, idTrade("7")) {
		t.Error("id 7, within the last window, handed on again")
	}
	if d.seen(s, idTrade("100")) || !d.seen(s, idTrade("100")) {
		t.Error("id 100, arriving late, dropped, or then handed on twice")
	}
	if d.seen(s, idTrade(strconv.Itoa(7+dedupWindow))) {
		t.Fatal("a new id dropped")
	}
	if d.seen(s, idTrade("7")) {
		t.Error("id 7, older than the window, still dropped")
	}
	if !d.seen(s, idTrade("8")) {
		t.Error("id 8, the oldest of the window, handed on again")
	}
	// A jump forgets the window: nothing new is ever dropped.
	if d.seen(s, idTrade("1000000")) || d.seen(s, idTrade("4000")) {
		t.Error("after a jump, an id below the window was dropped")
	}
	// The text ids keep their own window: x-1 is still remembered.
	if !d.seen(s, idTrade("x-1")) {
		t.Error("id x-1 forgotten")
	}
}

// TestDedupCostsLittleForAQuietStream: a thousand trade streams that saw
// ten trades each hold well under 5 MB (a window allocated in full would
// be about 150 KB each).
func TestDedupCostsLittleForAQuietStream(t *testing.T) {
	before := heapInUse()
	d := newDedup()
	for i := range 1000 {
		s := tradeStream(fmt.Sprintf("S%d-USD", i))
		for j := range 10 {
			d.seen(s, idTrade(strconv.Itoa(100000000+j)))
		}
	}
	grown := heapInUse() - before
	runtime.KeepAlive(d)
	if grown > 5<<20 {
		t.Errorf("1000 streams of 10 trades hold %d KB", grown>>10)
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkDedupFullWindow reports the memory of one trade stream whose
// window is full of numeric ids.
func BenchmarkDedupFullWindow(b *testing.B) {
	before := heapInUse()
	d := newDedup()
	const streams = 100
	for i := range streams {
		s := tradeStream(fmt.Sprintf("S%d-USD", i))
		for j := range dedupWindow {
			d.seen(s, idTrade(strconv.Itoa(100000000+j)))
		}
	}
	perStream := float64(heapInUse()-before) / streams
	s := tradeStream("S0-USD")
	for i := 0; b.Loop(); i++ {
		d.seen(s, idTrade(strconv.Itoa(200000000+i)))
	}
	b.ReportMetric(perStream, "bytes/stream")
	runtime.KeepAlive(d)
}

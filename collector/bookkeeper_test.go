package collector

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/book"
	"marketetl/market"
)

func bl(p, s string) market.Level {
	return market.Level{Price: decimal.RequireFromString(p), Size: decimal.RequireFromString(s)}
}

func bc(sd market.BookSide, p, s string) market.BookChange {
	return market.BookChange{Side: sd, Price: decimal.RequireFromString(p), Size: decimal.RequireFromString(s)}
}

func levelsString(ls []market.Level) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Price.String() + "x" + l.Size.String() + " ")
	}
	return strings.TrimSpace(b.String())
}

var bookT0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// okxSum is the OKX checksum of the book after applying changes to it.
func okxSum(t *testing.T, bids, asks []market.Level, changes ...market.BookChange) int64 {
	t.Helper()
	var b book.Book
	if err := b.Load(bids, asks); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(changes); err != nil {
		t.Fatal(err)
	}
	tb, ta := b.Top(25, nil, nil)
	return int64(book.OKXChecksum(tb, ta))
}

// TestBookKeeperChained follows an OKX-style chained stream: snapshot,
// updates checked by prevSeqId and checksum, a break and a bad checksum
// each asking for one resync, and the snapshot after each closing a
// book_resync gap from the last applied update.
func TestBookKeeperChained(t *testing.T) {
	s := market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeOrderBook}
	k := newBookKeeper(s, BookChained, BookConfig{Depth: 2, Interval: time.Second, Updates: true})
	bids := []market.Level{bl("100.0", "1"), bl("99.5", "2"), bl("99.0", "3")}
	asks := []market.Level{bl("100.5", "1"), bl("101.0", "2")}
	at := func(ms int) time.Time { return bookT0.Add(time.Duration(ms) * time.Millisecond) }

	out := k.handle(&BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: bids, Asks: asks, Time: at(0), Seq: 10, Prev: -1, Checksum: okxSum(t, bids, asks)}, at(1), 1)
	if out.resync != nil || out.gap != nil || len(out.records) != 1 {
		t.Fatalf("snapshot: resync %v gap %v records %d; want one snapshot", out.resync, out.gap, len(out.records))
	}
	snap := out.records[0].(*market.BookSnapshot)
	if got := levelsString(snap.Bids) + " | " + levelsString(snap.Asks); got != "100x1 99.5x2 | 100.5x1 101x2" || snap.Sequence != 10 || !snap.Time.Equal(at(0)) {
		t.Fatalf("snapshot %q seq %d time %s", got, snap.Sequence, snap.Time)
	}

	up := bc(market.Bid, "100.0", "0")
	out = k.handle(&BookMessage{Symbol: s.Symbol, Changes: []market.BookChange{up}, Time: at(100), Seq: 11, Prev: 10, Checksum: okxSum(t, bids, asks, up)}, at(101), 1)
	if out.resync != nil || len(out.records) != 1 || out.live == nil {
		t.Fatalf("update: resync %v records %d live %v; want one update record and a live book", out.resync, len(out.records), out.live)
	}
	if u := out.records[0].(*market.BookUpdate); u.Sequence != 11 || u.Side != market.Bid || !u.Size.IsZero() {
		t.Fatalf("update record %+v", u)
	}
	if got := levelsString(out.live.Bids); got != "99.5x2 99x3" {
		t.Fatalf("live bids %q", got)
	}

	// A break: prevSeqId 12 after seqId 11.
	out = k.handle(&BookMessage{Symbol: s.Symbol, Changes: []market.BookChange{bc(market.Ask, "102", "1")}, Time: at(200), Seq: 13, Prev: 12}, at(201), 1)
	if !errors.Is(out.resync, book.ErrSequenceBreak) || len(out.records) != 0 {
		t.Fatalf("break: resync %v records %d", out.resync, len(out.records))
	}
	// Updates while waiting are ignored, and the resync is not asked twice.
	out = k.handle(&BookMessage{Symbol: s.Symbol, Changes: []market.BookChange{bc(market.Ask, "102", "1")}, Time: at(300), Seq: 14, Prev: 13}, at(301), 1)
	if out.resync != nil || len(out.records) != 0 {
		t.Fatalf("while waiting: resync %v records %d", out.resync, len(out.records))
	}
	out = k.handle(&BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: bids, Asks: asks, Time: at(400), Seq: 20, Prev: -1}, at(401), 1)
	if out.gap == nil || !out.gap.From.Equal(at(100)) || !out.gap.To.Equal(at(400)) || out.gap.Reason != market.GapBookResync || len(out.records) != 1 {
		t.Fatalf("resynced: gap %+v records %d; want book_resync from the last applied update to the snapshot", out.gap, len(out.records))
	}

	// A wrong checksum.
	out = k.handle(&BookMessage{Symbol: s.Symbol, Changes: []market.BookChange{bc(market.Ask, "102", "1")}, Time: at(500), Seq: 21, Prev: 20, Checksum: 12345}, at(501), 1)
	if !errors.Is(out.resync, book.ErrChecksum) {
		t.Fatalf("checksum: resync %v", out.resync)
	}
	// A checksum of 0 (deprecated) is accepted.
	out = k.handle(&BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: bids, Asks: asks, Time: at(600), Seq: 30, Prev: -1}, at(601), 1)
	if out.gap == nil || !out.gap.From.Equal(at(400)) {
		t.Fatalf("second resync gap %+v", out.gap)
	}
	out = k.handle(&BookMessage{Symbol: s.Symbol, Changes: []market.BookChange{bc(market.Ask, "102", "1")}, Time: at(700), Seq: 31, Prev: 30}, at(701), 1)
	if out.resync != nil {
		t.Fatalf("checksum 0: resync %v", out.resync)
	}

	// A crossed update: a reject with its reason, and a resync.
	out = k.handle(&BookMessage{Symbol: s.Symbol, Changes: []market.BookChange{bc(market.Bid, "100.5", "1")}, Time: at(800), Seq: 32, Prev: 31}, at(801), 1)
	if out.reject == nil || out.reject.Reason != "locked_book" || out.resync == nil {
		t.Fatalf("locked: reject %+v resync %v", out.reject, out.resync)
	}
	// A new connection's snapshot after that closes the gap too.
	out = k.handle(&BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: bids, Asks: asks, Time: at(900), Seq: 40, Prev: -1}, at(901), 2)
	if out.gap == nil || !out.gap.From.Equal(at(700)) || !out.gap.To.Equal(at(900)) {
		t.Fatalf("after reconnect: gap %+v", out.gap)
	}
	// A reconnect of a synced book is a resync.
	out = k.handle(&BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: bids, Asks: asks, Time: at(1000), Seq: 50, Prev: -1}, at(1001), 3)
	if out.gap == nil || !out.gap.From.Equal(at(900)) {
		t.Fatalf("reconnect: gap %+v", out.gap)
	}
	st := k.status()
	want := map[string]uint64{resyncSequence: 1, resyncChecksum: 1, resyncInvalid: 1, resyncSession: 1}
	if len(st.Resyncs) != len(want) || st.SequenceBreaks != 1 || st.ChecksumFailures != 1 {
		t.Fatalf("status %+v", st)
	}
	for r, n := range want {
		if st.Resyncs[r] != n {
			t.Errorf("resyncs[%s] = %d, want %d", r, st.Resyncs[r], n)
		}
	}
}

// TestBookKeeperRanged follows Binance's procedure: events buffered until
// a snapshot is asked for once and loaded; the buffered events that follow
// it applied; a break asks for a new snapshot.
func TestBookKeeperRanged(t *testing.T) {
	s := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeOrderBook}
	k := newBookKeeper(s, BookRanged, BookConfig{Depth: 5, Interval: time.Hour, PublishInterval: time.Hour})
	at := func(ms int) time.Time { return bookT0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(first, last int64, ch ...market.BookChange) *BookMessage {
		return &BookMessage{Symbol: s.Symbol, Changes: ch, First: first, Seq: last, Time: at(int(last))}
	}
	out := k.handle(ev(95, 99, bc(market.Bid, "9", "9")), at(1), 1)
	if !errors.Is(out.resync, errNeedSnapshot) {
		t.Fatalf("first event: resync %v, want a snapshot asked for", out.resync)
	}
	if out = k.handle(ev(100, 102, bc(market.Bid, "10", "5")), at(2), 1); out.resync != nil {
		t.Fatalf("second event asks again: %v", out.resync)
	}
	if out = k.handle(ev(103, 104, bc(market.Ask, "12", "0")), at(3), 1); out.resync != nil {
		t.Fatal(out.resync)
	}
	out = k.handle(&BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: []market.Level{bl("10", "1"), bl("9", "1")}, Asks: []market.Level{bl("11", "1"), bl("12", "1")}, Seq: 101, Time: at(101)}, at(4), 0)
	if out.resync != nil || len(out.records) != 1 {
		t.Fatalf("snapshot: resync %v records %d", out.resync, len(out.records))
	}
	snap := out.records[0].(*market.BookSnapshot)
	if got := levelsString(snap.Bids) + " | " + levelsString(snap.Asks); got != "10x5 9x1 | 11x1" || snap.Sequence != 104 {
		t.Fatalf("joined book %q seq %d; want the events after lastUpdateId applied", got, snap.Sequence)
	}
	if out = k.handle(ev(106, 107), at(5), 1); !errors.Is(out.resync, book.ErrSequenceBreak) {
		t.Fatalf("break: %v", out.resync)
	}
	if st := k.status(); st.SequenceBreaks != 1 || st.Resyncs[resyncSequence] != 1 || st.Synced {
		t.Fatalf("status %+v", st)
	}

	// A snapshot newer than every buffered event is handed on at once; an
	// event that then skips its lastUpdateId+1 is a break of the book
	// handed on, not merely a stale snapshot.
	out = k.handle(&BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: []market.Level{bl("10", "1")}, Asks: []market.Level{bl("11", "1")}, Seq: 120, Time: at(120)}, at(6), 0)
	if out.resync != nil || len(out.records) != 1 || out.gap == nil || !out.gap.From.Equal(at(104)) {
		t.Fatalf("second snapshot: resync %v records %d gap %v", out.resync, len(out.records), out.gap)
	}
	if out = k.handle(ev(122, 123), at(7), 1); !errors.Is(out.resync, book.ErrSnapshotStale) {
		t.Fatalf("skipped 121: %v", out.resync)
	}
	if st := k.status(); st.SequenceBreaks != 2 || st.Resyncs[resyncSequence] != 2 {
		t.Fatalf("status after the skip %+v", st)
	}
}

// TestBookKeeperUnsequenced: a Coinbase-style book is published at most
// every PublishInterval between snapshots; a drift check that agrees
// (levels changed in flight excused) keeps it, one that disagrees drops
// it once, and the gap opens just before the first update applied since
// the book was last verified.
func TestBookKeeperUnsequenced(t *testing.T) {
	s := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeOrderBook}
	k := newBookKeeper(s, BookUnsequenced, BookConfig{Depth: 5, Interval: time.Hour, PublishInterval: 100 * time.Millisecond})
	at := func(ms int) time.Time { return bookT0.Add(time.Duration(ms) * time.Millisecond) }
	up := func(ms int, ch ...market.BookChange) bookOutput {
		return k.handle(&BookMessage{Symbol: s.Symbol, Changes: ch, Time: at(ms)}, at(ms), 1)
	}
	bids := []market.Level{bl("10", "1"), bl("9", "1")}
	asks := []market.Level{bl("11", "1"), bl("12", "1")}
	if out := k.handle(&BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: bids, Asks: asks, Time: at(0)}, at(0), 1); len(out.records) != 1 {
		t.Fatalf("snapshot: %d records", len(out.records))
	}
	if out := up(50, bc(market.Bid, "9", "2")); out.live != nil {
		t.Fatal("published 50ms after the snapshot")
	}
	if out := up(100, bc(market.Bid, "9", "3")); out.live == nil || out.live.Bids[1].Size.String() != "3" {
		t.Fatalf("not published 100ms after the snapshot: %+v", out.live)
	}
	if out := up(150, bc(market.Bid, "9", "4")); out.live != nil {
		t.Fatal("published 50ms after the last")
	}

	// Agrees, the level changed in flight excused.
	if !k.beginDrift() {
		t.Fatal("no drift check of a synced book")
	}
	up(200, bc(market.Ask, "12", "5"))
	rest := &BookMessage{Bids: []market.Level{bl("10", "1"), bl("9", "4")}, Asks: []market.Level{bl("11", "1"), bl("12", "1")}}
	if d, drifted := k.compareDrift(rest); drifted || d.Excused != 1 {
		t.Fatalf("agreeing check: drifted %v, %+v", drifted, d)
	}
	// A change that never arrived: the REST book has 10 x 7.
	up(300, bc(market.Bid, "9", "5"))
	k.beginDrift()
	rest = &BookMessage{Bids: []market.Level{bl("10", "7"), bl("9", "5")}, Asks: []market.Level{bl("11", "1"), bl("12", "5")}}
	if _, drifted := k.compareDrift(rest); !drifted {
		t.Fatal("drift not found")
	}
	if k.beginDrift() {
		t.Fatal("a dropped book is checked again")
	}
	out := k.handle(&BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: bids, Asks: asks, Time: at(400)}, at(400), 1)
	// The book was verified with the update at 200 in flight: it is
	// unknown from just before 200.
	if out.gap == nil || !out.gap.From.Equal(at(200).Add(-time.Microsecond)) || !out.gap.To.Equal(at(400)) {
		t.Fatalf("drift gap %+v", out.gap)
	}
	if st := k.status(); st.Resyncs[resyncDrift] != 1 || len(st.Resyncs) != 1 {
		t.Fatalf("status %+v", st)
	}
}

package collector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"marketetl/market"
)

// TestQuietBookSnapshots runs the interval timer of a connection's order
// books on synctest's clock: a book that gets no message still hands on a
// snapshot every interval, stamped with the time and sequence of its last
// update and received when it was taken, without moving the stream's
// freshness; an update restarts the interval; a row is never received
// after a frame the connection's reader holds; and a book that follows
// another connection session (its own has ended) is never restated.
func TestQuietBookSnapshots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeOrderBook}
		sink := newSink()
		c, err := New(Config{Name: "quiet", Streams: []market.Stream{s},
			Books: BookConfig{Depth: 2, Interval: time.Second, DriftCheck: -1}}, &lineProto{url: "ws://127.0.0.1:1"}, sink)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		const session = 7
		start := time.Now()
		bookTime := start.Add(-time.Hour) // the exchange's time of the book
		resync := make(chan market.Stream, 1)
		route := func(m BookMessage, at time.Time) {
			t.Helper()
			if err := c.routeBooks(ctx, &Event{Books: []BookMessage{m}}, at, session, resync); err != nil {
				t.Fatal(err)
			}
		}
		route(BookMessage{Symbol: s.Symbol, Snapshot: true, Bids: []market.Level{bl("100.0", "1"), bl("99.5", "2")},
			Asks: []market.Level{bl("100.5", "1")}, Time: bookTime}, start)

		inHand := new(frameInHand)
		timer := make(chan struct{})
		go func() {
			defer close(timer)
			_ = c.quietBooks(ctx, "only", session, inHand)
		}()
		rows := func() string {
			recs, _ := sink.snapshot()
			var b strings.Builder
			for _, r := range recs {
				sn := r.(*market.BookSnapshot)
				fmt.Fprintf(&b, "ts=+%s rcv=+%s %s | %s\n", sn.Time.Sub(start), sn.Received.Sub(start), levelsString(sn.Bids), levelsString(sn.Asks))
			}
			return b.String()
		}
		// Three quiet intervals.
		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		want := "ts=+-1h0m0s rcv=+0s 100x1 99.5x2 | 100.5x1\n" +
			"ts=+-1h0m0s rcv=+1s 100x1 99.5x2 | 100.5x1\n" +
			"ts=+-1h0m0s rcv=+2s 100x1 99.5x2 | 100.5x1\n" +
			"ts=+-1h0m0s rcv=+3s 100x1 99.5x2 | 100.5x1\n"
		if got := rows(); got != want {
			t.Fatalf("rows after 3 quiet seconds:\n%swant\n%s", got, want)
		}
		st := c.Status()
		if ss := st.Streams[s.String()]; !ss.LastData.Equal(start) || ss.Records != 4 || ss.Book.QuietSnapshots != 3 || ss.Book.Snapshots != 4 {
			t.Errorf("stream status LastData +%s records %d quiet %d snapshots %d; want freshness at the sync (+0s), 4 records, 3 quiet of 4 snapshots",
				ss.LastData.Sub(start), ss.Records, ss.Book.QuietSnapshots, ss.Book.Snapshots)
		}

		// An update half-way through the fourth interval is not due (the
		// last row is 0.5 s old); the timer's row at +4s carries it.
		time.Sleep(500 * time.Millisecond)
		route(BookMessage{Symbol: s.Symbol, Changes: []market.BookChange{bc(market.Bid, "99.5", "0")}, Time: bookTime.Add(time.Second)}, time.Now())
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		want += "ts=+-59m59s rcv=+4s 100x1 | 100.5x1\n"
		if got := rows(); got != want {
			t.Fatalf("rows after an update:\n%swant\n%s", got, want)
		}

		// While the reader takes a frame's time the row waits; a frame
		// received before the row's time and still in hand (it may be
		// about to change the book) gives the row its time, so that the
		// frame's changes are received at or after the row.
		inHand.stamping()
		time.Sleep(time.Second + 500*time.Millisecond)
		synctest.Wait()
		if got := rows(); got != want {
			t.Fatalf("rows while a frame's time is taken:\n%swant\n%s", got, want)
		}
		inHand.stamped(start.Add(5300 * time.Millisecond))
		time.Sleep(time.Millisecond)
		synctest.Wait()
		want += "ts=+-59m59s rcv=+5.3s 100x1 | 100.5x1\n"
		if got := rows(); got != want {
			t.Fatalf("rows with a frame in hand:\n%swant\n%s", got, want)
		}
		inHand.none()

		// Another session's timer (this one ended) restates nothing.
		cancel()
		<-timer
		ctx2, cancel2 := context.WithCancel(t.Context())
		defer cancel2()
		other := make(chan struct{})
		go func() {
			defer close(other)
			_ = c.quietBooks(ctx2, "only", session+1, inHand)
		}()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := rows(); got != want {
			t.Fatalf("rows after the session ended:\n%swant\n%s", got, want)
		}
		cancel2()
		<-other
	})
}

// Package adaptertest is the exchange adapters' shared test kit: seeding
// fuzz targets from an adapter's testdata, the checks every decoded event
// must pass whatever the exchange, a one-line rendering of records for
// golden comparisons, and a sink that hands the collector's records to
// channels. Only tests import it.
//
// What differs per exchange (which record types a channel yields, which
// fields an exchange leaves empty) stays in the adapter's own tests, next
// to the decoder it checks; see docs/ADDING_AN_EXCHANGE.md.
package adaptertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/market"
)

// Seeds adds every file under dir whose name ends in one of exts (every
// file when exts is empty) to f's seed corpus, and fails f when there is
// none: a fuzz target without seeds tests little.
func Seeds(f *testing.F, dir string, exts ...string) {
	f.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !hasExt(path, exts) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(b)
		n++
		return nil
	})
	if err != nil {
		f.Fatalf("seed corpus from %s: %v", dir, err)
	}
	if n == 0 {
		f.Fatalf("seed corpus: no files %v under %s", exts, dir)
	}
}

func hasExt(path string, exts []string) bool {
	if len(exts) == 0 {
		return true
	}
	for _, e := range exts {
		if filepath.Ext(path) == e {
			return true
		}
	}
	return false
}

// DecodeProblem says what is wrong, whatever the exchange, with what an
// adapter of ex returned from Decode(frame, received, ev), or "": an error
// must be a *collector.DecodeError with a reason and the exchange; every
// record must carry the exchange, a valid symbol and stream, a non-zero
// UTC time and the received time passed to Decode; acknowledged streams
// and an exchange error must be of ex and well formed.
func DecodeProblem(ex market.Exchange, received time.Time, ev *collector.Event, err error) string {
	if err != nil {
		var de *collector.DecodeError
		if !errors.As(err, &de) {
			return fmt.Sprintf("error %v (%T) is not a *collector.DecodeError", err, err)
		}
		if de.Reason == "" || de.Stream.Exchange != ex {
			return fmt.Sprintf("decode error without a reason or the exchange: %+v", de)
		}
	}
	for _, r := range ev.Records {
		h := r.Header()
		switch {
		case h.Exchange != ex:
			return "record of exchange " + string(h.Exchange) + ": " + Render(r, received)
		case h.Symbol.Check() != nil:
			return "record symbol: " + Render(r, received)
		case h.Time.IsZero() || h.Time.Location() != time.UTC:
			return "record time zero or not UTC: " + Render(r, received)
		case !h.Received.Equal(received):
			return "record received is not the time passed to Decode: " + Render(r, received)
		case r.Stream().Check() != nil:
			return "record stream: " + Render(r, received)
		}
	}
	for _, s := range ev.Acked {
		if s.Check() != nil || s.Exchange != ex {
			return fmt.Sprintf("acked stream %+v is not well formed", s)
		}
	}
	if e := ev.Err; e != nil {
		if e.Exchange != ex || e.Stream.Symbol != "" && e.Stream.Symbol.Check() != nil {
			return fmt.Sprintf("exchange error %+v is not well formed", e)
		}
	}
	return ""
}

// AliasProblem decodes a copy of frame with decode, then overwrites that
// copy, as the collector's reader overwrites its buffer with the next
// frame, and says which part of the outcome changed with it, or "": a
// record, book message, acknowledgement, exchange error or decode error
// that still refers to the frame's bytes (through unsafe, or a kept
// slice) instead of a copy of them.
func AliasProblem(decode func(frame []byte, ev *collector.Event) error, frame []byte) string {
	buf := bytes.Clone(frame)
	var ev collector.Event
	err := decode(buf, &ev)
	before := renderOutcome(&ev, err)
	for i := range buf {
		buf[i] = '#'
	}
	if after := renderOutcome(&ev, err); after != before {
		return fmt.Sprintf("the decoded event changed with the frame's buffer:\n before %s\n after  %s", before, after)
	}
	return ""
}

// AllocsPerDecode reads the frame in dir/file and returns the average
// allocations of decoding it with decode, after a first decoding that
// fills whatever the decoder remembers (the decimals its pool's tables
// hold), failing t if the file cannot be read or a decoding fails. Run it
// without the race detector, which changes allocation counts and drops
// what is put in a sync.Pool at random.
func AllocsPerDecode(t *testing.T, decode func(frame []byte, ev *collector.Event) error, dir, file string) float64 {
	t.Helper()
	frame, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	var ev collector.Event
	if err := decode(frame, &ev); err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	return testing.AllocsPerRun(100, func() {
		ev.Reset()
		if err := decode(frame, &ev); err != nil {
			t.Fatalf("decode %s: %v", file, err)
		}
	})
}

// SameWhenShared decodes every frame of paths with one decoder from four
// goroutines at once, as the collector's connection readers call an
// adapter's Decode, three times each (so that whatever the decoder
// remembers between calls, such as the decimals its pool's tables hold,
// is used), and fails t for every outcome that differs from the frame's
// first decoding by a fresh decoder: the same records, book messages and
// error, decimals with the same coefficients and exponents. Run with
// -race it also finds state that two calls share unguarded. fresh makes a
// new decoder (an adapter's Decode with its received time).
func SameWhenShared(t *testing.T, paths []string, fresh func() func(frame []byte, ev *collector.Event) error) {
	t.Helper()
	if len(paths) == 0 {
		t.Fatal("no frames to decode")
	}
	type outcome struct {
		ev  collector.Event
		err error
	}
	frames := make([][]byte, len(paths))
	want := make([]outcome, len(paths))
	for i, p := range paths {
		var err error
		if frames[i], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
		want[i].err = fresh()(frames[i], &want[i].ev)
	}
	decode := fresh()
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			for r := range 3 {
				for j := range frames {
					i := (j + 7*g + r) % len(frames)
					var got outcome
					got.err = decode(frames[i], &got.ev)
					if !reflect.DeepEqual(got, want[i]) {
						errs <- fmt.Sprintf("%s, round %d: decoded %+v, %v; first %+v, %v", paths[i], r, got.ev, got.err, want[i].ev, want[i].err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// renderOutcome writes everything Decode returned, decimals and strings
// included.
func renderOutcome(ev *collector.Event, err error) string {
	var b strings.Builder
	for _, r := range ev.Records {
		fmt.Fprintf(&b, "%+v;", r)
	}
	fmt.Fprintf(&b, " books %+v acked %+v ack %d hb %v %v %+v", ev.Books, ev.Acked, ev.AckID, ev.Heartbeat, ev.HeartbeatTime, ev.HeartbeatStream)
	if ev.Err != nil {
		fmt.Fprintf(&b, " exchange error %+v", *ev.Err)
	}
	if err != nil {
		fmt.Fprintf(&b, " error %v", err)
		var de *collector.DecodeError
		if errors.As(err, &de) {
			fmt.Fprintf(&b, " %+v", *de)
		}
	}
	return b.String()
}

// Exact writes d with the digits it was read with: 0.10 stays 0.10, so
// that a golden comparison sees a lost trailing zero.
func Exact(d decimal.Decimal) string {
	if e := d.Exponent(); e < 0 {
		return d.StringFixed(-e)
	}
	return d.String()
}

// ExactNull is Exact, or "-" for no value.
func ExactNull(d decimal.NullDecimal) string {
	if !d.Valid {
		return "-"
	}
	return Exact(d.Decimal)
}

// Stamp writes t in RFC 3339 with its fraction, flagging a time not in UTC.
func Stamp(t time.Time) string {
	s := t.Format(time.RFC3339Nano)
	if t.Location() != time.UTC {
		s += "(not UTC)"
	}
	return s
}

// Render writes a record on one line, every field included, decimals
// exact; the received time only when it is not received.
func Render(r market.Record, received time.Time) string {
	h := r.Header()
	head := fmt.Sprintf("%s %s t=%s", h.Exchange, h.Symbol, Stamp(h.Time))
	if !h.Received.Equal(received) {
		head += " rcv=" + Stamp(h.Received)
	}
	switch r := r.(type) {
	case *market.Trade:
		return fmt.Sprintf("trade %s id=%s p=%s q=%s %s", head, r.TradeID, Exact(r.Price), Exact(r.Size), r.Side)
	case *market.Ticker:
		return fmt.Sprintf("ticker %s last=%s bid=%sx%s ask=%sx%s o=%s h=%s l=%s v=%s qv=%s", head,
			ExactNull(r.Last), ExactNull(r.Bid), ExactNull(r.BidSize), ExactNull(r.Ask), ExactNull(r.AskSize),
			ExactNull(r.Open24h), ExactNull(r.High24h), ExactNull(r.Low24h), ExactNull(r.Volume24h), ExactNull(r.QuoteVolume24h))
	case *market.Candle:
		return fmt.Sprintf("candle %s %s o=%s h=%s l=%s c=%s v=%s qv=%s n=%d closed=%t", head, r.Timeframe,
			Exact(r.Open), Exact(r.High), Exact(r.Low), Exact(r.Close), Exact(r.Volume), ExactNull(r.QuoteVolume), r.Trades, r.Closed)
	}
	return fmt.Sprintf("unexpected %T", r)
}

// Sink hands every record and reject the collector delivers to a channel;
// it satisfies the collector's sink.
type Sink struct {
	Records chan market.Record
	Rejects chan market.Reject
}

// NewSink returns a Sink whose channels hold n each before Accept blocks.
func NewSink(n int) *Sink {
	return &Sink{Records: make(chan market.Record, n), Rejects: make(chan market.Reject, n)}
}

// Accept sends r to Records, or returns when ctx ends.
func (s *Sink) Accept(ctx context.Context, r market.Record) error {
	select {
	case s.Records <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Reject sends r to Rejects, or returns when ctx ends.
func (s *Sink) Reject(ctx context.Context, r market.Reject) error {
	select {
	case s.Rejects <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

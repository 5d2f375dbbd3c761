package collector

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"marketetl/market"
)

// flakyResume fails its first failures calls, then answers last.
type flakyResume struct {
	mu       sync.Mutex
	failures int
	calls    []time.Time
	last     map[market.Stream]Last
}

func (f *flakyResume) resume(_ context.Context, _ []market.Stream) (map[market.Stream]Last, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	if len(f.calls) <= f.failures {
		return nil, errors.New("database down")
	}
	return f.last, nil
}

func (f *flakyResume) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// A Resume that fails three times is retried with backoff (0.5s, 1s, 2s
// with the lowest jitter) while records are delivered; once it succeeds,
// the window from the last stored trade to the first new one becomes
// exactly one restart gap, bounded by ids.
func TestFailedResumeIsRetriedAndTheRestartGapRecorded(t *testing.T) {
	tests := []struct {
		name   string
		stored int64 // the last stored trade id
		want   []market.Gap
	}{
		{name: "trades lost while down", stored: 40, want: []market.Gap{{Stream: tradeStream("BTC-USD"),
			From: at(t0), To: at(t0 + 70), AfterID: 40, BeforeID: 44, Reason: market.GapRestart}}},
		{name: "nothing lost", stored: 43},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ts := tradeStream("BTC-USD")
				fr := &flakyResume{failures: 3, last: map[market.Stream]Last{ts: {Time: at(t0), TradeID: tc.stored}}}
				gaps := &gapLog{}
				c, err := New(Config{Name: "t", Streams: []market.Stream{ts}, Resume: fr.resume, Gaps: gaps,
					Rand: func() float64 { return 0 }}, &lineProto{url: "ws://127.0.0.1:1", seqIDs: true}, newSink())
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				start := time.Now()
				first := c.resumeOnce(ctx)
				if first == nil {
					t.Fatal("the first resume succeeded")
				}
				var wg sync.WaitGroup
				wg.Go(func() { c.resumeLoop(ctx, first) })
				// Delivered meanwhile: continuity within the run is checked,
				// the restart window waits for storage.
				session := c.positions.next()
				for _, tr := range []*market.Trade{tradeRec("BTC-USD", 44, t0+70), tradeRec("BTC-USD", 45, t0+71)} {
					if err := c.route.route(ctx, "conn", &Event{Records: []market.Record{tr}}, time.Now(), session); err != nil {
						t.Fatal(err)
					}
				}
				synctest.Wait()
				if n := len(gaps.snapshot()); n != 0 || fr.count() != 1 {
					t.Fatalf("before the retries: %d gaps, %d calls; want 0 and 1", n, fr.count())
				}
				for i, wait := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
					time.Sleep(wait - time.Nanosecond)
					synctest.Wait()
					if fr.count() != i+1 {
						t.Fatalf("retry %d came before its backoff of %s", i+1, wait)
					}
					time.Sleep(time.Nanosecond)
					synctest.Wait()
					if fr.count() != i+2 {
						t.Fatalf("retry %d not made after %s: %d calls", i+1, wait, fr.count())
					}
				}
				if d := time.Since(start); d != 3500*time.Millisecond {
					t.Errorf("resumed after %s, want 3.5s", d)
				}
				checkGapLog(t, gaps, tc.want...)
				// No more calls once storage answered.
				time.Sleep(time.Hour)
				synctest.Wait()
				if fr.count() != 4 {
					t.Errorf("%d calls, want 4", fr.count())
				}
				cancel()
				wg.Wait()
			})
		})
	}
}

package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"marketetl/market"
)

// With RECONNECT_DELAY 5s, RECONNECT_DELAY_MAX 12s and
// MAX_RECONNECT_ATTEMPTS 4, a connection that never dials is redialled
// after 2.5s, 5s, 6s and 6s (5s doubling, capped at 12s, then the lowest
// jitter of [d/2, d]), and Run returns ErrDialsExhausted once the fourth
// redial failed, for the supervisor to restart the collector.
func TestRedialsFollowTheConfiguredBackoffAndLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var dials []time.Duration
		start := time.Now()
		dialer := &websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) {
			mu.Lock()
			defer mu.Unlock()
			dials = append(dials, time.Since(start))
			return nil, errors.New("connection refused")
		}}
		c, err := New(Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}, Dialer: dialer,
			BackoffMin: 5 * time.Second, BackoffMax: 12 * time.Second, MaxDialFailures: 4,
			Rand: func() float64 { return 0 }}, &lineProto{url: "ws://127.0.0.1:1"}, newSink())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour) // fake time: ends a Run that never gives up
		defer cancel()
		err = c.Run(ctx)
		if !errors.Is(err, ErrDialsExhausted) || errors.Is(err, ErrPermanent) {
			t.Fatalf("Run returned %v, want ErrDialsExhausted (not permanent)", err)
		}
		want := []time.Duration{0, 2500 * time.Millisecond, 7500 * time.Millisecond, 13500 * time.Millisecond, 19500 * time.Millisecond}
		mu.Lock()
		defer mu.Unlock()
		if len(dials) != len(want) {
			t.Fatalf("dials at %v, want %v", dials, want)
		}
		for i := range want {
			if dials[i] != want[i] {
				t.Errorf("dial %d at %s, want %s", i, dials[i], want[i])
			}
		}
		if d := time.Since(start); d != want[len(want)-1] {
			t.Errorf("Run returned after %s, want %s", d, want[len(want)-1])
		}
	})
}

// TestCollectorsOfAnExchangeShareOneDialPace: three collectors of one
// exchange given one DialPacer of 1 dial a second (no burst beyond 1)
// dial, all their connections together, exactly once a second: in 10.5 s
// of failing dials, 11 attempts, none less than a second after the last.
// Each collector's own pace (what its Protocol declares) would let
// through 11 each.
func TestCollectorsOfAnExchangeShareOneDialPace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var dials []time.Duration
		start := time.Now()
		dialer := &websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) {
			mu.Lock()
			defer mu.Unlock()
			dials = append(dials, time.Since(start))
			return nil, errors.New("connection refused")
		}}
		pace := Pace{PerSecond: 1, Burst: 1}
		shared := NewDialPacer(pace)
		ctx, cancel := context.WithTimeout(t.Context(), 10500*time.Millisecond)
		defer cancel()
		var wg sync.WaitGroup
		for i := range 3 {
			p := &limitedProto{lineProto: lineProto{url: "ws://127.0.0.1:1"}, limits: Limits{Dials: pace}}
			c, err := New(Config{Name: fmt.Sprintf("c%d", i), Streams: []market.Stream{tradeStream("BTC-USD")}, Dialer: dialer,
				Dials: shared, BackoffMin: 10 * time.Millisecond, BackoffMax: 10 * time.Millisecond,
				Rand: func() float64 { return 0 }}, p, newSink())
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				if err := c.Run(ctx); err != nil {
					t.Errorf("run: %v", err)
				}
			})
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(dials) != 11 {
			t.Errorf("%d dials in 10.5 s, want 11 (one a second): %v", len(dials), dials)
		}
		for i := 1; i < len(dials); i++ {
			if d := dials[i] - dials[i-1]; d < time.Second {
				t.Errorf("dial %d %s after the one before, the pace is 1 a second", i, d)
			}
		}
	})
}

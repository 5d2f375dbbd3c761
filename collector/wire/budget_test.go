package wire

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeExchange answers each request with the next status of its script
// (then 200) and records when each request arrived (fake time under
// synctest).
type fakeExchange struct {
	mu      sync.Mutex
	script  []fakeAnswer
	arrived []time.Time
}

type fakeAnswer struct {
	status     int
	retryAfter string
}

func (f *fakeExchange) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arrived = append(f.arrived, time.Now())
	a := fakeAnswer{status: http.StatusOK}
	if len(f.script) > 0 {
		a, f.script = f.script[0], f.script[1:]
	}
	h := http.Header{}
	if a.retryAfter != "" {
		h.Set("Retry-After", a.retryAfter)
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
}

func (f *fakeExchange) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.arrived...)
}

func get(t *testing.T, c *http.Client) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://exchange.test/api/v3/klines", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestBudgetRateAndCost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := &fakeExchange{}
		// 10 units a second, burst 10, each request costs 5: two at once,
		// then one every 500 ms.
		b := NewBudget(BudgetConfig{Name: "test", Rate: 10, Burst: 10, Cost: func(*http.Request) int { return 5 }})
		c := &http.Client{Transport: b.Transport(ex)}
		start := time.Now()
		for range 5 {
			get(t, c)
		}
		got := ex.times()
		want := []time.Duration{0, 0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond}
		for i, at := range got {
			if d := at.Sub(start); d != want[i] {
				t.Errorf("request %d sent at +%v, want +%v", i, d, want[i])
			}
		}
		if st := b.Stats(); st.Requests != 5 || st.Throttled != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestBudgetPausesOnRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		answer     fakeAnswer
		wantPause  time.Duration
		wantBanned uint64
	}{
		{name: "429 with seconds", answer: fakeAnswer{status: 429, retryAfter: "3"}, wantPause: 3 * time.Second},
		{name: "429 without header takes the default", answer: fakeAnswer{status: 429}, wantPause: 7 * time.Second},
		{name: "418 ban", answer: fakeAnswer{status: 418, retryAfter: "20"}, wantPause: 20 * time.Second, wantBanned: 1},
		{name: "418 without header", answer: fakeAnswer{status: 418}, wantPause: 11 * time.Second, wantBanned: 1},
		{name: "429 with an HTTP date", answer: fakeAnswer{status: 429, retryAfter: "date+5s"}, wantPause: 5 * time.Second},
		{name: "429 with garbage", answer: fakeAnswer{status: 429, retryAfter: "soon"}, wantPause: 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := tc.answer
				if a.retryAfter == "date+5s" {
					// HTTP dates have whole seconds: the fake clock starts on one.
					a.retryAfter = time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)
				}
				ex := &fakeExchange{script: []fakeAnswer{a}}
				b := NewBudget(BudgetConfig{Name: "test", PauseOn429: 7 * time.Second, PauseOn418: 11 * time.Second})
				c := &http.Client{Transport: b.Transport(ex)}
				start := time.Now()
				if s := get(t, c); s != a.status {
					t.Fatalf("first answer %d, want %d passed through", s, a.status)
				}
				// Two callers wait out the pause; neither is sent before it ends.
				var wg sync.WaitGroup
				for range 2 {
					wg.Go(func() { get(t, c) })
				}
				wg.Wait()
				got := ex.times()
				if len(got) != 3 {
					t.Fatalf("%d requests, want 3", len(got))
				}
				for i, at := range got[1:] {
					if d := at.Sub(start); d != tc.wantPause {
						t.Errorf("request %d sent at +%v, want +%v (after the pause)", i+1, d, tc.wantPause)
					}
				}
				if st := b.Stats(); st.Throttled != 1 || st.Banned != tc.wantBanned || st.Requests != 3 || !st.PausedUntil.IsZero() {
					t.Errorf("stats %+v, want 1 throttled, %d banned, 3 requests, no pause left", st, tc.wantBanned)
				}
			})
		})
	}
}

func TestBudgetWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBudget(BudgetConfig{Name: "test"})
		b.Pause(time.Hour)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := b.Wait(ctx, 1); err == nil {
			t.Fatal("Wait returned nil after its context ended")
		}
		if st := b.Stats(); st.PausedUntil.IsZero() {
			t.Errorf("stats %+v: want the pause reported", st)
		}
	})
}

package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency is a latency distribution's summary, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

// recorder is an HDR histogram of latencies in microseconds, from 1 µs to
// 10 minutes with three significant digits. It is safe for concurrent use:
// the store's lanes and the publisher's sender record from their own
// goroutines.
type recorder struct {
	mu sync.Mutex // guards h
	h  *hdrhistogram.Histogram
}

const maxLatencyMicros = int64(10 * time.Minute / time.Microsecond)

func newRecorder() *recorder {
	return &recorder{h: hdrhistogram.New(1, maxLatencyMicros, 3)}
}

// since records now - t for every t in received.
func (r *recorder) since(now time.Time, received []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range received {
		us := now.Sub(t).Microseconds()
		_ = r.h.RecordValue(min(max(us, 1), maxLatencyMicros)) // clamped: cannot fail
	}
}

// sinceIf records now - t for every t in received that keep accepts.
func (r *recorder) sinceIf(now time.Time, received []time.Time, keep func(time.Time) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range received {
		if keep(t) {
			us := now.Sub(t).Microseconds()
			_ = r.h.RecordValue(min(max(us, 1), maxLatencyMicros)) // clamped: cannot fail
		}
	}
}

// summary returns the distribution's percentiles.
func (r *recorder) summary() Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := func(us int64) float64 { return float64(us) / 1000 }
	if r.h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count: r.h.TotalCount(),
		P50:   ms(r.h.ValueAtQuantile(50)),
		P99:   ms(r.h.ValueAtQuantile(99)),
		P999:  ms(r.h.ValueAtQuantile(99.9)),
		Max:   ms(r.h.Max()),
	}
}

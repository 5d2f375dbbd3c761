package pubsub

import (
	"slices"
	"sync"
	"testing"
	"time"

	"marketetl/dbtest"
)

// BenchmarkPublishLatency publishes trades at 20,000 per second (20 every
// millisecond, stamped as received when published) for one second and
// reports the receipt-to-acknowledged-PUBLISH latency: p50 and p99 in
// milliseconds, for the default (no flush interval: each pipeline goes as
// soon as the writer is free) and a flush interval of 5 ms.
func BenchmarkPublishLatency(b *testing.B) {
	for _, flush := range []time.Duration{0, 5 * time.Millisecond} {
		name := "default"
		if flush != 0 {
			name = "flush=" + flush.String()
		}
		b.Run(name, func(b *testing.B) { benchmarkPublishLatency(b, flush) })
	}
}

func benchmarkPublishLatency(b *testing.B, flush time.Duration) {
	const perTick, ticks = 20, 1000
	_, prefix := testRedis(b)
	var mu sync.Mutex
	var lat []time.Duration
	cfg := Config{URL: dbtest.RedisURL(), ChannelPrefix: prefix, FlushInterval: flush}
	cfg.OnPublishReceived = func(received []time.Time) {
		now := time.Now()
		mu.Lock()
		for _, r := range received {
			lat = append(lat, now.Sub(r))
		}
		mu.Unlock()
	}
	p, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := run(b, p)
	await(b, "the publisher to connect", func() bool { return p.Status().Connected })
	for b.Loop() {
		tick := time.NewTicker(time.Millisecond)
		for k := range ticks {
			<-tick.C
			for j := range perTick {
				t := seqTrade(k*perTick + j)
				t.Received = time.Now()
				p.Publish(t)
			}
		}
		tick.Stop()
		await(b, "every record's outcome", func() bool { return p.Status().Pending == 0 })
	}
	st := r.stop(b)
	if st.Dropped[DropQueueFull] != 0 {
		b.Fatalf("%d dropped", st.Dropped[DropQueueFull])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("nothing published")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
	b.ReportMetric(float64(len(lat))/float64(st.Batches), "msgs/batch")
}

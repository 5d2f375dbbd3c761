package pubsub

import (
	"sync/atomic"
	"testing"
	"time"

	"marketetl/dbtest"
	"marketetl/market"
)

// BenchmarkPublish measures records published per second through the local
// Redis, from Publish to acknowledged PUBLISH, pipelined and one round trip
// per record (no subscriber).
func BenchmarkPublish(b *testing.B) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"pipelined", Config{BatchSize: 500, FlushInterval: 5 * time.Millisecond}},
		{"pipelined_with_stream", Config{BatchSize: 500, FlushInterval: 5 * time.Millisecond, StreamMaxLen: 1000}},
		{"one_by_one", Config{BatchSize: 1}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) { benchmarkPublish(b, tt.cfg) })
	}
}

func benchmarkPublish(b *testing.B, cfg Config) {
	_, prefix := testRedis(b)
	recs := make([]market.Record, 1024)
	for i := range recs {
		recs[i] = seqTrade(i)
	}
	var published atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	cfg.URL, cfg.ChannelPrefix, cfg.QueueSize = dbtest.RedisURL(), prefix, b.N+1
	cfg.OnPublish = func(k int, _ time.Time) {
		if published.Add(int64(k)) == n {
			close(done)
		}
	}
	p, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := run(b, p)
	await(b, "the publisher to connect", func() bool { return p.Status().Connected })

	b.ResetTimer()
	for i := range b.N {
		p.Publish(recs[i%len(recs)])
	}
	await(b, "every record's outcome", func() bool {
		select {
		case <-done:
			return true
		default:
			return p.Status().Pending == 0
		}
	})
	b.StopTimer()
	st := r.stop(b)
	if st.Published != uint64(b.N) {
		b.Fatalf("published %d of %d: %+v", st.Published, b.N, st)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/float64(st.Batches), "msgs/batch")
}

// BenchmarkPublishCall measures Publish itself, the cost a collector pays
// per record when the queue has room; the queue is emptied outside the
// timed part.
func BenchmarkPublishCall(b *testing.B) {
	const queue = 4096
	p, err := New(Config{URL: dbtest.RedisURL(), QueueSize: queue}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.client.Close() })
	rec := seqTrade(1)
	b.ReportAllocs()
	for i := range b.N {
		if i%queue == queue-1 {
			b.StopTimer()
			for len(p.queue) > 0 {
				<-p.queue
			}
			b.StartTimer()
		}
		p.Publish(rec)
	}
	b.StopTimer()
	if st := p.Status(); st.Dropped[DropQueueFull] != 0 {
		b.Fatalf("%d dropped: the benchmark should measure the queued path", st.Dropped[DropQueueFull])
	}
}

func BenchmarkEncode(b *testing.B) {
	recs := everyType(b, 1)
	for _, rec := range recs {
		b.Run(rec.Stream().Kind(), func(b *testing.B) {
			buf := Encode(nil, rec)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = Encode(buf[:0], rec)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	payload := Encode(nil, seqTrade(1))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
}

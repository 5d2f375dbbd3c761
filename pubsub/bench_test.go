package pubsub

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
		{"pipelined", Config{BatchSize: 500}},
		{"pipelined_with_stream", Config{BatchSize: 500, StreamMaxLen: 1000}},
		{"one_by_one", Config{BatchSize: 1}},
	}
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	tests = append(tests, struct {
		name string
		cfg  Config
	}{"pipelined_with_latency_metric", Config{BatchSize: 500, Metrics: metrics}})
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

	b.ReportAllocs()
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

// BenchmarkLatencyObservation measures what etl_redis_publish_latency_seconds
// costs the reply reader per published record, on a pipeline of 20
// records from two exchanges (a pipeline at 20,000 records per second):
// the loop over the replies as the reader runs it,
// without the metric, observing every record, and observing once per
// pipeline (its oldest record). ns/op is per record.
func BenchmarkLatencyObservation(b *testing.B) {
	const batch = 20
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	received := make([]time.Time, batch)
	observers := make([]prometheus.Observer, batch)
	for i := range batch {
		received[i] = now.Add(-time.Duration(500+rand.IntN(3000)) * time.Microsecond)
		observers[i] = m.observer([]market.Exchange{market.OKX, market.Binance}[i%2])
	}
	b.Run("none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			replied := time.Now()
			var oldest time.Time
			for _, r := range received {
				if oldest.IsZero() || r.Before(oldest) {
					oldest = r
				}
			}
			_ = replied.Sub(oldest)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
	})
	b.Run("per_record", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			replied := time.Now()
			var oldest time.Time
			for i, r := range received {
				if oldest.IsZero() || r.Before(oldest) {
					oldest = r
				}
				if o := observers[i]; o != nil && !r.IsZero() {
					o.Observe(replied.Sub(r).Seconds())
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
	})
	b.Run("per_pipeline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			replied := time.Now()
			var oldest time.Time
			for _, r := range received {
				if oldest.IsZero() || r.Before(oldest) {
					oldest = r
				}
			}
			observers[0].Observe(replied.Sub(oldest).Seconds())
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
	})
}

// BenchmarkEncodeBatch measures the writer's CPU per record without the
// network: the PUBLISH commands (and XADD, with streams) of a batch of
// trades of a few symbols, in RESP.
func BenchmarkEncodeBatch(b *testing.B) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"publish", Config{}},
		{"with_stream", Config{StreamMaxLen: 1000}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			tt.cfg.URL = dbtest.RedisURL()
			p, err := New(tt.cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			s := newSender(p)
			bt := &batch{}
			for i := range 500 {
				tr := seqTrade(i)
				tr.Symbol = []market.Symbol{"BTC-USDT", "ETH-USDT", "SOL-USDT"}[i/50%3]
				bt.recs = append(bt.recs, tr)
			}
			b.ReportAllocs()
			for b.Loop() {
				bt.latency = bt.latency[:0]
				s.encode(bt)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bt.recs)), "ns/record")
		})
	}
}

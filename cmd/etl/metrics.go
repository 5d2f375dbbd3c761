package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"marketetl/store"
)

// flushMetrics are observed by the store writer after each flush.
type flushMetrics struct {
	duration *prometheus.HistogramVec
	latency  *prometheus.HistogramVec
}

func newFlushMetrics(reg prometheus.Registerer) (*flushMetrics, error) {
	m := &flushMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "etl_store_flush_duration_seconds",
			Help:    "Time from the start of a batch's flush to its commit, retries included, by table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"table"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "etl_store_commit_latency_seconds",
			Help:    "Time from the receipt of a batch's oldest record to the batch's commit, by table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"table"}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe is the store's OnFlush hook: cheap, no blocking.
func (m *flushMetrics) observe(r store.FlushResult) {
	m.duration.WithLabelValues(r.Table).Observe(r.Duration.Seconds())
	if !r.OldestReceived.IsZero() {
		m.latency.WithLabelValues(r.Table).Observe(time.Since(r.OldestReceived).Seconds())
	}
}

// dataMetrics exports the data path's counters (pipeline, store, Redis) at
// scrape time from the components' own snapshots, so that the hot path
// does no metric bookkeeping of its own.
type dataMetrics struct {
	c *core

	accepted  *prometheus.Desc
	rejected  *prometheus.Desc
	published *prometheus.Desc
	dropped   *prometheus.Desc
	redisUp   *prometheus.Desc
	pubQueue  *prometheus.Desc
	rows      *prometheus.Desc
	storeQ    *prometheus.Desc
}

func registerDataMetrics(reg prometheus.Registerer, c *core) error {
	return reg.Register(&dataMetrics{
		c:         c,
		accepted:  prometheus.NewDesc("etl_pipeline_records_accepted_total", "Records that passed validation and were handed to the store.", nil, nil),
		rejected:  prometheus.NewDesc("etl_pipeline_rejects_total", "Records and frames refused, by reason.", []string{"reason"}, nil),
		published: prometheus.NewDesc("etl_redis_published_total", "Records published on Redis.", nil, nil),
		dropped:   prometheus.NewDesc("etl_redis_dropped_total", "Records not published on Redis, by reason.", []string{"reason"}, nil),
		redisUp:   prometheus.NewDesc("etl_redis_up", "1 while the publisher is connected to Redis.", nil, nil),
		pubQueue:  prometheus.NewDesc("etl_redis_queue_depth", "Records waiting to be published.", nil, nil),
		rows:      prometheus.NewDesc("etl_store_rows_total", "Rows handled by the store writer, by table and outcome (inserted, skipped, rejected).", []string{"table", "outcome"}, nil),
		storeQ:    prometheus.NewDesc("etl_store_queue_depth", "Records waiting in the store writer's queue.", nil, nil),
	})
}

// Describe implements prometheus.Collector.
func (m *dataMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.accepted, m.rejected, m.published, m.dropped, m.redisUp, m.pubQueue, m.rows, m.storeQ} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *dataMetrics) Collect(ch chan<- prometheus.Metric) {
	pc := m.c.pipe.Counts()
	ch <- prometheus.MustNewConstMetric(m.accepted, prometheus.CounterValue, float64(pc.Accepted))
	for reason, n := range pc.Rejected {
		ch <- prometheus.MustNewConstMetric(m.rejected, prometheus.CounterValue, float64(n), reason)
	}
	if m.c.pub != nil {
		st := m.c.pub.Status()
		ch <- prometheus.MustNewConstMetric(m.published, prometheus.CounterValue, float64(st.Published))
		for reason, n := range st.Dropped {
			ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.CounterValue, float64(n), string(reason))
		}
		up := 0.0
		if st.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(m.redisUp, prometheus.GaugeValue, up)
		ch <- prometheus.MustNewConstMetric(m.pubQueue, prometheus.GaugeValue, float64(st.Pending))
	}
	m.collectStore(ch)
}

func (m *dataMetrics) collectStore(ch chan<- prometheus.Metric) {
	st := m.c.writer.Stats()
	for table, ts := range st.Tables {
		for _, o := range []struct {
			name string
			n    uint64
		}{{"inserted", ts.Inserted}, {"updated", ts.Updated}, {"skipped", ts.Skipped}, {"rejected", ts.Rejected}, {"lost", ts.Lost}} {
			ch <- prometheus.MustNewConstMetric(m.rows, prometheus.CounterValue, float64(o.n), table, o.name)
		}
	}
	ch <- prometheus.MustNewConstMetric(m.storeQ, prometheus.GaugeValue, float64(st.QueueDepth))
}

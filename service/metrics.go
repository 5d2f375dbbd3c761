package service

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"marketetl/dispatch"
	"marketetl/market"
	"marketetl/spool"
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
	c *Service

	skew      *prometheus.Desc
	accepted  *prometheus.Desc
	rejected  *prometheus.Desc
	published *prometheus.Desc
	dropped   *prometheus.Desc
	redisUp   *prometheus.Desc
	pubQueue  *prometheus.Desc
	rows      *prometheus.Desc
	storeQ    *prometheus.Desc
	spool     spoolDescs
}

func registerDataMetrics(reg prometheus.Registerer, c *Service) error {
	if err := reg.Register(newBackfillMetrics(c)); err != nil {
		return err
	}
	if err := reg.Register(dispatch.NewMetrics(c.callbacks)); err != nil {
		return err
	}
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
		skew: prometheus.NewDesc("etl_exchange_clock_skew_seconds",
			"Measured offset of the local clock from the exchange's: a low percentile of received minus exchange time of recent trades (negative when the local clock is behind; absent until enough trades were seen).",
			[]string{"exchange"}, nil),
		spool: newSpoolDescs(),
	})
}

// Describe implements prometheus.Collector.
func (m *dataMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.accepted, m.rejected, m.published, m.dropped, m.redisUp, m.pubQueue, m.rows, m.storeQ, m.skew,
		m.spool.bytes, m.spool.segments, m.spool.records, m.spool.gaps, m.spool.state} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *dataMetrics) Collect(ch chan<- prometheus.Metric) {
	pc := m.c.pipe.Counts()
	// Balances not published go through the private pipeline: same
	// validation and store, counted together.
	priv := m.c.privatePipe.Counts()
	pc.Accepted += priv.Accepted
	for reason, n := range priv.Rejected {
		pc.Rejected[reason] += n
	}
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
	for ex := range m.c.adapters {
		if d, ok := m.c.clocks.Offset(ex); ok {
			ch <- prometheus.MustNewConstMetric(m.skew, prometheus.GaugeValue, d.Seconds(), string(ex))
		}
	}
	if m.c.buffer != nil {
		m.spool.collect(ch, m.c.buffer.Stats())
	}
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

// spoolDescs describe the durable spool's metrics.
type spoolDescs struct {
	bytes, segments, records, gaps, state *prometheus.Desc
}

func newSpoolDescs() spoolDescs {
	return spoolDescs{
		bytes:    prometheus.NewDesc("etl_spool_bytes", "Size of the spool's segment files on disk.", nil, nil),
		segments: prometheus.NewDesc("etl_spool_segments", "Segment files in the spool.", nil, nil),
		records: prometheus.NewDesc("etl_spool_records_total",
			"Spool records by outcome: spooled (queue full), spilled (not stored by the shutdown deadline), replayed, corrupt (skipped), dropped (spool full).",
			[]string{"outcome"}, nil),
		gaps:  prometheus.NewDesc("etl_spool_gaps_total", "Gaps recorded for records the spool could not keep: dropped while it was full or the disk refused them, or lost to a failed disk write (spool_full, spool_error).", nil, nil),
		state: prometheus.NewDesc("etl_spool_state", "1 for the spool's current state (memory, spooling, replaying).", []string{"state"}, nil),
	}
}

func (d spoolDescs) collect(ch chan<- prometheus.Metric, st spool.Stats) {
	ch <- prometheus.MustNewConstMetric(d.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(d.segments, prometheus.GaugeValue, float64(st.Segments))
	for _, o := range []struct {
		name string
		n    uint64
	}{{"spooled", st.Spooled}, {"spilled", st.Appended - min(st.Appended, st.Spooled)}, {"replayed", st.Replayed},
		{"corrupt", st.Corrupt}, {"dropped", st.Dropped}} {
		ch <- prometheus.MustNewConstMetric(d.records, prometheus.CounterValue, float64(o.n), o.name)
	}
	ch <- prometheus.MustNewConstMetric(d.gaps, prometheus.CounterValue, float64(st.Gaps))
	for _, s := range []spool.State{spool.StateMemory, spool.StateSpooling, spool.StateReplaying} {
		v := 0.0
		if st.State == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(d.state, prometheus.GaugeValue, v, string(s))
	}
}

// backfillMetrics exports the gaps (counted in the gaps table at scrape
// time), the rows filled and the REST budgets' counters.
type backfillMetrics struct {
	c                                    *Service
	gaps, rows, throttled, requests, que *prometheus.Desc
}

func newBackfillMetrics(c *Service) *backfillMetrics {
	return &backfillMetrics{
		c:         c,
		gaps:      prometheus.NewDesc("etl_gaps", "Gaps in the gaps table, by exchange and state (open, filling, filled, unfillable).", []string{"exchange", "state"}, nil),
		rows:      prometheus.NewDesc("etl_backfill_rows_total", "Rows fetched from REST history by backfill and handed to validation and the store, by exchange and data type.", []string{"exchange", "type"}, nil),
		throttled: prometheus.NewDesc("etl_rest_throttled_total", "REST answers 429 (rate limit) or 418 (IP ban) that paused the exchange's REST budget.", []string{"exchange"}, nil),
		requests:  prometheus.NewDesc("etl_rest_requests_total", "REST requests sent within the exchange's budget.", []string{"exchange"}, nil),
		que:       prometheus.NewDesc("etl_backfill_queue_depth", "Gaps reported and not yet recorded in the gaps table.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *backfillMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.gaps, m.rows, m.throttled, m.requests, m.que} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *backfillMetrics) Collect(ch chan<- prometheus.Metric) {
	b := m.c.backfill
	if b == nil {
		return
	}
	// The counts cached by the admin API's read cache: a scrape queries
	// nothing.
	if m.c.gapCounts != nil {
		if counts, ok := m.c.gapCounts(); ok {
			for _, ex := range market.Exchanges() {
				for _, state := range []string{store.GapOpen, store.GapFilling, store.GapFilled, store.GapUnfillable} {
					ch <- prometheus.MustNewConstMetric(m.gaps, prometheus.GaugeValue, float64(counts.ByStatus[string(ex)][state]), string(ex), state)
				}
			}
		}
	}
	st := b.filler.Stats()
	for ex, byType := range st.Rows {
		for typ, n := range byType {
			ch <- prometheus.MustNewConstMetric(m.rows, prometheus.CounterValue, float64(n), string(ex), string(typ))
		}
	}
	ch <- prometheus.MustNewConstMetric(m.que, prometheus.GaugeValue, float64(st.Queued))
	for ex, bu := range m.c.budgets {
		bs := bu.Stats()
		ch <- prometheus.MustNewConstMetric(m.throttled, prometheus.CounterValue, float64(bs.Throttled), string(ex))
		ch <- prometheus.MustNewConstMetric(m.requests, prometheus.CounterValue, float64(bs.Requests), string(ex))
	}
}

package pubsub

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"marketetl/market"
)

// LatencyMetric is the name of the publish latency histogram.
const LatencyMetric = "etl_redis_publish_latency_seconds"

// latencyBuckets are the histogram's upper bounds: 100 µs doubling to about
// 3.3 s. Without a flush interval (the default) the median is near the
// first buckets; a stalled Redis reaches the I/O timeout (2 s).
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)

// Metrics measures the live feed's latency: from a record's receipt
// (market.Meta.Received) to Redis's reply to its PUBLISH, per published
// record, by exchange. The reply reader observes it after each
// pipeline, with one clock reading per pipeline; Publish, the collectors'
// side, does nothing more. A nil *Metrics measures nothing.
type Metrics struct {
	latency *prometheus.HistogramVec
	// byExchange holds each known exchange's histogram, resolved once so
	// that the sender looks it up once per stream (in its channel name
	// cache), not per record. Read-only after NewMetrics.
	byExchange map[market.Exchange]prometheus.Observer
}

// NewMetrics registers the publisher's metrics on reg. Every known
// exchange's series exists from the start, at zero.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    LatencyMetric,
			Help:    "Time from the receipt of a record to Redis's reply to its PUBLISH, per published record, by exchange.",
			Buckets: latencyBuckets,
		}, []string{"exchange"}),
		byExchange: map[market.Exchange]prometheus.Observer{},
	}
	if err := reg.Register(m.latency); err != nil {
		return nil, fmt.Errorf("register publisher metrics: %w", err)
	}
	for _, ex := range market.Exchanges() {
		m.byExchange[ex] = m.latency.WithLabelValues(string(ex))
	}
	return m, nil
}

// observer returns the latency histogram of exchange ex, or nil when m is
// nil. Called once per stream by the sender.
func (m *Metrics) observer(ex market.Exchange) prometheus.Observer {
	if m == nil {
		return nil
	}
	if o, ok := m.byExchange[ex]; ok {
		return o
	}
	// An exchange outside market.Exchanges(): the vector creates its
	// series on first use.
	return m.latency.WithLabelValues(string(ex))
}

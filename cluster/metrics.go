package cluster

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a collector is released, the label of etl_cluster_released_total.
const (
	// reasonRebalance: given up to another instance's share, or disabled.
	reasonRebalance = "rebalance"
	// reasonLost: the session was lost (heartbeat failed or late) or the
	// instance stopped.
	reasonLost = "session_lost"
)

// Metrics counts ownership changes. A nil *Metrics counts nothing.
type Metrics struct {
	acquiredTotal prometheus.Counter
	releasedTotal *prometheus.CounterVec
	owned         prometheus.Gauge
	live          prometheus.Gauge
}

// NewMetrics registers the cluster metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		acquiredTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "etl_cluster_acquired_total",
			Help: "Collectors this instance took ownership of."}),
		releasedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "etl_cluster_released_total",
			Help: "Collectors this instance gave up, by reason: rebalance (another instance's share, or disabled) or session_lost (heartbeat failed or late, or shutdown)."}, []string{"reason"}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "etl_cluster_owned_collectors",
			Help: "Collectors this instance owns."}),
		live: prometheus.NewGauge(prometheus.GaugeOpts{Name: "etl_cluster_live_instances",
			Help: "Live instances at the last evaluation, this one included."}),
	}
	for _, c := range []prometheus.Collector{m.acquiredTotal, m.releasedTotal, m.owned, m.live} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register cluster metrics: %w", err)
		}
	}
	m.releasedTotal.WithLabelValues(reasonRebalance)
	m.releasedTotal.WithLabelValues(reasonLost)
	return m, nil
}

func (m *Metrics) acquired(n int) {
	if m != nil {
		m.acquiredTotal.Add(float64(n))
	}
}

func (m *Metrics) released(n int, reason string) {
	if m != nil {
		m.releasedTotal.WithLabelValues(reason).Add(float64(n))
	}
}

func (m *Metrics) setOwned(n int) {
	if m != nil {
		m.owned.Set(float64(n))
	}
}

func (m *Metrics) setLive(n int) {
	if m != nil {
		m.live.Set(float64(n))
	}
}

package dispatch

import "github.com/prometheus/client_golang/prometheus"

// Metrics exports the subscribers' counters; register it with the
// service's registry. Label values go away with their subscriber.
type Metrics struct {
	d                                  *Dispatcher
	delivered, dropped, panics, queued *prometheus.Desc
}

// NewMetrics returns the metrics of d.
func NewMetrics(d *Dispatcher) *Metrics {
	l := []string{"subscriber"}
	return &Metrics{
		d:         d,
		delivered: prometheus.NewDesc("etl_callback_delivered_total", "Records handed to an in-process callback that returned normally.", l, nil),
		dropped:   prometheus.NewDesc("etl_callback_dropped_total", "Records dropped because a callback's queue was full (drop policy).", l, nil),
		panics:    prometheus.NewDesc("etl_callback_panics_total", "Callbacks that panicked (recovered).", l, nil),
		queued:    prometheus.NewDesc("etl_callback_queue_depth", "Records waiting in a callback's queue.", l, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.delivered
	ch <- m.dropped
	ch <- m.panics
	ch <- m.queued
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, s := range m.d.Stats() {
		ch <- prometheus.MustNewConstMetric(m.delivered, prometheus.CounterValue, float64(s.Delivered), s.Name)
		ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.CounterValue, float64(s.Dropped), s.Name)
		ch <- prometheus.MustNewConstMetric(m.panics, prometheus.CounterValue, float64(s.Panics), s.Name)
		ch <- prometheus.MustNewConstMetric(m.queued, prometheus.GaugeValue, float64(s.Queued), s.Name)
	}
}

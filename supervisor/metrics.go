package supervisor

import (
	"github.com/prometheus/client_golang/prometheus"

	"marketetl/collector"
)

// metrics exports the collectors' status at scrape time: every value is
// read from the manager when Prometheus scrapes, so a removed collector's
// series disappear with it and counters stay consistent with the status
// reports. Counters are summed over a collector's runs since the manager
// started (or since its configuration last changed).
type metrics struct {
	m *Manager

	received, processed, records, rejects, errors, reconnects, restarts *prometheus.Desc
	up, connected, healthy, enabled, state, uptime, dataAge, failures   *prometheus.Desc
	collectors, hung, historyRows, historyFailures                      *prometheus.Desc
	info, connUptime                                                    *prometheus.Desc
	anomalies                                                           *prometheus.Desc
}

var _ prometheus.Collector = (*metrics)(nil)

func newMetrics(m *Manager) *metrics {
	c := []string{"collector", "exchange"}
	stream := []string{"collector", "exchange", "data_type", "symbol", "timeframe"}
	d := prometheus.NewDesc
	return &metrics{
		m:          m,
		received:   d("etl_collector_messages_received_total", "Frames read from the exchange (data, acknowledgements, pongs, heartbeats).", c, nil),
		processed:  d("etl_collector_messages_processed_total", "Frames decoded without error.", c, nil),
		records:    d("etl_collector_records_total", "Market records handed on, per stream.", stream, nil),
		rejects:    d("etl_collector_rejects_total", "Frames or records refused by decoding.", c, nil),
		errors:     d("etl_collector_errors_total", "Errors by kind: collector (connection, protocol and decode errors counted by the collector), exit (a run returned an error), panic, hung (a run did not stop in time).", append(c, "kind"), nil),
		reconnects: d("etl_collector_reconnects_total", "Redials made by the collector itself.", c, nil),
		restarts:   d("etl_collector_restarts_total", "Restarts made by the supervisor, by trigger.", append(c, "trigger"), nil),
		up:         d("etl_collector_up", "1 when a run of the collector is active.", c, nil),
		connected:  d("etl_collector_connected", "1 when the collector reports all its connections up.", c, nil),
		healthy:    d("etl_collector_healthy", "1 when the collector is enabled and its health check finds no issue.", c, nil),
		enabled:    d("etl_collector_enabled", "1 when the collector is enabled.", c, nil),
		state:      d("etl_collector_state", "1 for the collector's current supervisor state (running, restarting, failed, stopped).", append(c, "state"), nil),
		uptime:     d("etl_collector_uptime_seconds", "How long the current run has been running (0 when none).", c, nil),
		connUptime: d("etl_collector_connection_uptime_seconds", "How long the collector's current connection has been up: since it last became connected (0 when not connected).", c, nil),
		anomalies: d("etl_protocol_anomalies_total",
			"Signs that an exchange changed its API, by kind: unknown_message, bad_field, unknown_error_code, subscription_refused.",
			[]string{"exchange", "kind"}, nil),
		info:       d("etl_supervisor_info", "Always 1; the manager label is the manager's name (MANAGER_NAME).", []string{"manager"}, nil),
		dataAge:    d("etl_collector_last_data_age_seconds", "Time since the stream's last record (absent before its first).", stream, nil),
		failures:   d("etl_collector_consecutive_failures", "Consecutive failures the supervisor is restarting from.", c, nil),
		collectors: d("etl_supervisor_collectors", "Collectors by supervisor state.", []string{"state"}, nil),
		hung:       d("etl_supervisor_hung_runs", "Runs that did not stop within the stop timeout and have not returned yet.", nil, nil),
		historyRows: d("etl_supervisor_status_rows_written_total",
			"Rows written to collector_status.", nil, nil),
		historyFailures: d("etl_supervisor_status_write_failures_total",
			"Failed writes of a round of collector_status rows.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (x *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		x.received, x.processed, x.records, x.rejects, x.errors, x.reconnects, x.restarts,
		x.up, x.connected, x.healthy, x.enabled, x.state, x.uptime, x.dataAge, x.failures,
		x.collectors, x.hung, x.historyRows, x.historyFailures, x.info, x.connUptime, x.anomalies,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (x *metrics) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	m := x.m
	now := m.cfg.Now()
	byState := map[State]int{StateRunning: 0, StateRestarting: 0, StateFailed: 0, StateStopped: 0}
	anomalies := map[string]map[string]uint64{}
	for _, e := range m.sorted() {
		s := m.snap(e, now)
		name, ex := s.spec.Name, string(s.spec.Exchange)
		byState[s.state]++
		if anomalies[ex] == nil {
			anomalies[ex] = map[string]uint64{}
		}
		for k, n := range s.status.Anomalies {
			anomalies[ex][k] += n
		}
		counter(x.received, s.status.MessagesReceived, name, ex)
		counter(x.processed, s.status.MessagesProcessed, name, ex)
		counter(x.rejects, s.status.Rejects, name, ex)
		counter(x.reconnects, s.status.Reconnects, name, ex)
		counter(x.errors, s.status.Errors, name, ex, "collector")
		for _, k := range []string{errKindExit, errKindPanic, errKindHung} {
			counter(x.errors, s.errorsBy[k], name, ex, k)
		}
		for _, t := range []Trigger{TriggerNoHeartbeat, TriggerStaleData, TriggerDisconnected, TriggerErrorRate, TriggerExited,
			TriggerPanic, TriggerManual, TriggerFailedRetry} {
			counter(x.restarts, s.restartsBy[t], name, ex, string(t))
		}
		gauge(x.up, bit(s.running), name, ex)
		gauge(x.connected, bit(s.running && s.status.State == collector.StateConnected), name, ex)
		gauge(x.healthy, bit(s.spec.IsEnabled() && len(s.issues) == 0), name, ex)
		gauge(x.enabled, bit(s.spec.IsEnabled()), name, ex)
		for _, st := range []State{StateRunning, StateRestarting, StateFailed, StateStopped} {
			gauge(x.state, bit(s.state == st), name, ex, string(st))
		}
		uptime := 0.0
		if s.running {
			uptime = now.Sub(s.runStarted).Seconds()
		}
		gauge(x.uptime, uptime, name, ex)
		gauge(x.connUptime, connectionUptime(&s).Seconds(), name, ex)
		gauge(x.failures, float64(s.attempts), name, ex)
		for _, ss := range streamsOf(&s.spec, &s.status) {
			labels := []string{name, ex, string(ss.Stream.Type), string(ss.Stream.Symbol), string(ss.Stream.Timeframe)}
			counter(x.records, ss.Records, labels...)
			if !ss.LastData.IsZero() {
				gauge(x.dataAge, now.Sub(ss.LastData).Seconds(), labels...)
			}
		}
	}
	for st, n := range byState {
		gauge(x.collectors, float64(n), string(st))
	}
	for ex, kinds := range anomalies {
		for _, k := range collector.AnomalyKinds() {
			counter(x.anomalies, kinds[k], ex, k)
		}
	}
	gauge(x.hung, float64(len(m.runs.hung())))
	gauge(x.info, 1, m.cfg.Name)
	counter(x.historyRows, m.historyWritten.Load())
	counter(x.historyFailures, m.historyFailures.Load())
}

package supervisor

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/spec"
)

// IssueKind classifies why a collector is unhealthy.
type IssueKind string

// The kinds of issues. Heartbeat, stale data and disconnection trigger an
// automatic restart (when the collector's auto_restart is on), and so does
// an error rate that stays above the limit for Config.ErrorRateWindow; the
// others are reported only.
const (
	// IssueNoHeartbeat: the read loop has read no frame at all for longer
	// than the heartbeat timeout.
	IssueNoHeartbeat IssueKind = "no_heartbeat"
	// IssueStaleData: a stream has had no data for longer than its maximum
	// silence. Pings and heartbeats do not count as data.
	IssueStaleData IssueKind = "stale_data"
	// IssueDisconnected: the collector has not been connected for longer
	// than the heartbeat timeout.
	IssueDisconnected IssueKind = "disconnected"
	// IssueErrorRate: errors arrive faster than the configured rate;
	// sustained for Config.ErrorRateWindow, it restarts the collector.
	IssueErrorRate IssueKind = "error_rate"
	// IssueRefused: the exchange refused a stream's subscription for good
	// (an instrument it does not have). Reported only: a restart cannot
	// cure it, so the stream is not judged stale either.
	IssueRefused IssueKind = "refused"
	// IssueProtocolAnomaly: the exchange sent what the adapter does not
	// know (an unknown message type, field or error code): its API may
	// have changed. Reported only.
	IssueProtocolAnomaly IssueKind = "protocol_anomaly"
	// IssueNotRunning: the collector should run but does not (waiting for a
	// restart, failed or disabled).
	IssueNotRunning IssueKind = "not_running"
)

// triggersRestart reports whether an issue of kind k restarts the collector.
func (k IssueKind) triggersRestart() bool {
	return k == IssueNoHeartbeat || k == IssueStaleData || k == IssueDisconnected
}

// Issue is one reason a collector is unhealthy.
type Issue struct {
	Kind IssueKind
	// Text says what is wrong, for operators: "no data on trades for
	// BTC-USDT for 312s".
	Text string
}

// limits are one collector's health thresholds.
type limits struct {
	heartbeat          time.Duration
	maxSilence         time.Duration
	silenceByType      map[market.DataType]time.Duration
	maxErrorsPerMinute float64
}

// limitsFor resolves spec's overrides over the manager's defaults.
func limitsFor(cfg *Config, spec *spec.Collector) limits {
	l := limits{
		heartbeat:          cfg.HeartbeatTimeout,
		maxSilence:         cfg.MaxSilence,
		maxErrorsPerMinute: cfg.MaxErrorsPerMinute,
	}
	if spec.MaxSilence > 0 {
		l.maxSilence = spec.MaxSilence.Std()
	}
	for t, d := range spec.MaxSilenceByType {
		if d > 0 {
			if l.silenceByType == nil {
				l.silenceByType = map[market.DataType]time.Duration{}
			}
			l.silenceByType[t] = d.Std()
		}
	}
	return l
}

// silence returns the maximum silence of a stream of type t.
func (l *limits) silence(t market.DataType) time.Duration {
	if d, ok := l.silenceByType[t]; ok {
		return d
	}
	return l.maxSilence
}

// checkInterval returns spec's health check interval.
func checkInterval(cfg *Config, spec *spec.Collector) time.Duration {
	if spec.HealthCheckInterval > 0 {
		return spec.HealthCheckInterval.Std()
	}
	return cfg.HealthCheckInterval
}

// assess judges a running collector's health from its status at now. Its
// run started at started: a fresh run is given the full heartbeat timeout
// before it is judged, and each stream the full maximum silence from its
// first confirmed subscription (or the run's start, if later). errorsPerMinute is the error
// rate since the previous check (negative when unknown). Issues are sorted
// by kind and then by stream.
func assess(st *collector.Status, started, now time.Time, l *limits, errorsPerMinute float64) []Issue {
	var issues []Issue
	if age := now.Sub(later(st.LastMessage, started)); age > l.heartbeat {
		issues = append(issues, Issue{IssueNoHeartbeat,
			fmt.Sprintf("no message received for %s (heartbeat timeout %s)", seconds(age), seconds(l.heartbeat))})
	}
	if st.State != collector.StateConnected {
		if age := now.Sub(later(st.Since, started)); age > l.heartbeat {
			state := st.State
			if state == "" {
				state = collector.StateStarting
			}
			issues = append(issues, Issue{IssueDisconnected,
				fmt.Sprintf("not connected (%s) for %s", state, seconds(age))})
		}
	}
	keys := make([]string, 0, len(st.Streams))
	for k := range st.Streams {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ss := st.Streams[k]
		if ss.Refused {
			issues = append(issues, Issue{IssueRefused, fmt.Sprintf("the exchange refused %s for %s: %s %s",
				streamNoun(ss.Stream), ss.Stream.Symbol, ss.RefusedCode, ss.RefusedMessage)})
			continue
		}
		if _, set := l.silenceByType[market.TypeBalance]; ss.Stream.Type == market.TypeBalance && !set {
			// An account is quiet while nothing changes: a balance stream
			// is judged by its connection's heartbeat, unless
			// max_silence_by_type sets a silence for it.
			continue
		}
		max := l.silence(ss.Stream.Type)
		// A stream's silence runs from its last data, or from its first
		// confirmed subscription in this run, or from the run's start:
		// the time taken to connect and subscribe is judged by the
		// heartbeat and connection checks above, not as silence.
		if age := now.Sub(later(ss.LastData, later(ss.FirstSubscribed, started))); age > max {
			text := fmt.Sprintf("no data on %s for %s for %s", streamNoun(ss.Stream), ss.Stream.Symbol, seconds(age))
			if ss.LastError != "" {
				text += " (exchange: " + ss.LastError + ")"
			}
			issues = append(issues, Issue{IssueStaleData, text})
		}
	}
	if kinds := anomalyKinds(st.Anomalies); kinds != "" {
		issues = append(issues, Issue{IssueProtocolAnomaly, "exchange protocol anomalies (has its API changed?): " + kinds})
	}
	if errorsPerMinute > l.maxErrorsPerMinute {
		issues = append(issues, Issue{IssueErrorRate,
			fmt.Sprintf("%.1f errors per minute (limit %g)", errorsPerMinute, l.maxErrorsPerMinute)})
	}
	sort.SliceStable(issues, func(i, j int) bool { return issueOrder(issues[i].Kind) < issueOrder(issues[j].Kind) })
	return issues
}

func issueOrder(k IssueKind) int {
	switch k {
	case IssueNotRunning:
		return 0
	case IssueNoHeartbeat:
		return 1
	case IssueDisconnected:
		return 2
	case IssueStaleData:
		return 3
	}
	return 4
}

// restartTrigger returns the first issue that triggers a restart, if any.
func restartTrigger(issues []Issue) (Issue, bool) {
	for _, is := range issues {
		if is.Kind.triggersRestart() {
			return is, true
		}
	}
	return Issue{}, false
}

// streamNoun names a stream's data for people: trades, tickers, candles 1m.
func streamNoun(s market.Stream) string {
	switch s.Type {
	case market.TypeCandle:
		return "candles " + string(s.Timeframe)
	case market.TypeOrderBook:
		return "order book"
	case market.TypeBalance:
		return "balances"
	}
	return string(s.Type) + "s"
}

// seconds renders d as whole seconds ("312s"), or milliseconds below a
// second.
func seconds(d time.Duration) string {
	if d < time.Second && d > -time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%ds", int64(d/time.Second))
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// anomalyKinds renders the protocol anomalies counted, by kind, or "".
func anomalyKinds(counts map[string]uint64) string {
	var parts []string
	for _, k := range collector.AnomalyKinds() {
		if n := counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

package supervisor

import (
	"math"
	"sort"
	"time"

	"marketetl/collector"
	"marketetl/spec"
)

// JSON units, for every report below: durations are seconds as JSON numbers
// (fractions to the millisecond); times are RFC 3339 strings in UTC with
// fractional seconds, or null when the event never happened.

// CollectorReport is one collector's status (GET /api/collectors/{name}).
type CollectorReport struct {
	Name     string `json:"name"`
	Exchange string `json:"exchange"`
	// Status is running, restarting, failed or stopped.
	Status State `json:"status"`
	// StatusReason says why the collector is restarting or failed.
	StatusReason string `json:"status_reason,omitempty"`
	// ConnectionState is the collector's own state (starting, connecting,
	// connected, reconnecting, stopped).
	ConnectionState   string   `json:"connection_state"`
	Enabled           bool     `json:"enabled"`
	ShouldBeRunning   bool     `json:"should_be_running"`
	IsRunning         bool     `json:"is_running"`
	Symbols           []string `json:"symbols"`
	DataTypes         []string `json:"data_types"`
	Timeframes        []string `json:"timeframes"`
	AutoRestart       bool     `json:"auto_restart"`
	HealthCheckPeriod float64  `json:"health_check_interval"`
	// NextAttemptTime is when a restarting or failed collector is started
	// again (null when it waits for a manual restart).
	NextAttemptTime *time.Time              `json:"next_attempt_time"`
	Health          HealthSummary           `json:"health"`
	Statistics      Statistics              `json:"statistics"`
	Streams         map[string]StreamReport `json:"streams"`
}

// HealthSummary is the health part of a CollectorReport.
type HealthSummary struct {
	IsHealthy bool     `json:"is_healthy"`
	Issues    []string `json:"issues"`
	// TimeSinceHeartbeat is the time since the last frame of any kind.
	TimeSinceHeartbeat *float64 `json:"time_since_heartbeat"`
	// TimeSinceData is the time since the last market record of any stream.
	TimeSinceData *float64 `json:"time_since_data"`
	// MaxSilenceDuration is the collector-wide maximum silence (per data
	// type overrides are in Streams).
	MaxSilenceDuration float64    `json:"max_silence_duration"`
	HeartbeatTimeout   float64    `json:"heartbeat_timeout"`
	LastCheckTime      *time.Time `json:"last_check_time"`
}

// Statistics are a collector's counters since the manager started, summed
// over its runs.
type Statistics struct {
	MessagesReceived  uint64 `json:"messages_received"`
	MessagesProcessed uint64 `json:"messages_processed"`
	Records           uint64 `json:"records"`
	Rejects           uint64 `json:"rejects"`
	Errors            uint64 `json:"errors"`
	Restarts          uint64 `json:"restarts"`
	// RestartsByTrigger counts restarts by trigger (no_heartbeat,
	// stale_data, disconnected, exited, panic, manual, failed_retry).
	RestartsByTrigger map[string]uint64 `json:"restarts_by_trigger"`
	// UptimeSeconds is how long the current run has been running (0 when
	// none).
	UptimeSeconds float64 `json:"uptime_seconds"`
	// ReconnectAttempts is the number of consecutive failures the
	// supervisor is restarting from (0 when the last run is fine).
	ReconnectAttempts int `json:"reconnect_attempts"`
	// Reconnects counts the collector's own redials.
	Reconnects      uint64     `json:"reconnects"`
	LastMessageTime *time.Time `json:"last_message_time"`
	// ConnectionUptime is the seed's connection_uptime: the seconds the
	// current connection has been up, since the collector last became
	// connected (all its connections up); 0 when not connected. A redial
	// or a restart starts it afresh; a symbol added or removed does not.
	ConnectionUptime float64 `json:"connection_uptime"`
	// ConnectedSince is when the current connection came up (null when not
	// connected): the same information as a time.
	ConnectedSince *time.Time `json:"connected_since"`
	// LastError is the latest error, the collector's or the supervisor's
	// ("" when none), with secrets redacted.
	LastError       string     `json:"last_error"`
	LastErrorTime   *time.Time `json:"last_error_time"`
	LastRestartTime *time.Time `json:"last_restart_time"`
	// HungStops counts stops that exceeded the stop timeout.
	HungStops uint64 `json:"hung_stops"`
	// ClockSkewSeconds is the measured offset of the local clock from the
	// exchange's (received minus exchange time of recent trades, a low
	// percentile: negative when the local clock is behind); null until
	// enough trades were seen.
	ClockSkewSeconds *float64 `json:"clock_skew_seconds"`
}

// StreamReport is one stream's freshness.
type StreamReport struct {
	DataType   string `json:"data_type"`
	Symbol     string `json:"symbol"`
	Timeframe  string `json:"timeframe,omitempty"`
	Subscribed bool   `json:"subscribed"`
	Records    uint64 `json:"records"`
	// Gaps counts the holes found in the stream (skipped trade ids,
	// missing closed candles, restarts), each handed to the backfill;
	// OutOfOrder the trades whose id was not above the last one.
	Gaps               uint64     `json:"gaps"`
	OutOfOrder         uint64     `json:"out_of_order"`
	LastData           *time.Time `json:"last_data"`
	TimeSinceData      *float64   `json:"time_since_data"`
	MaxSilenceDuration float64    `json:"max_silence_duration"`
	LastError          string     `json:"last_error,omitempty"`
	// State is "refused" when the exchange refused the stream's
	// subscription for good, with its code and message; empty otherwise.
	State          string `json:"state,omitempty"`
	RefusedCode    string `json:"refused_code,omitempty"`
	RefusedMessage string `json:"refused_message,omitempty"`
}

// HealthReport is one collector's health (GET /api/collectors/{name}/health).
type HealthReport struct {
	Name             string     `json:"name"`
	IsHealthy        bool       `json:"is_healthy"`
	Issues           []string   `json:"issues"`
	Status           State      `json:"status"`
	LastHeartbeat    *time.Time `json:"last_heartbeat"`
	LastDataReceived *time.Time `json:"last_data_received"`
	ShouldBeRunning  bool       `json:"should_be_running"`
	IsRunning        bool       `json:"is_running"`
	CheckedAt        time.Time  `json:"checked_at"`
}

// Report is the manager's status (GET /api/status).
type Report struct {
	Manager    ManagerInfo                `json:"manager"`
	Statistics Totals                     `json:"statistics"`
	Collectors map[string]CollectorReport `json:"collectors"`
}

// ManagerInfo describes the manager itself.
type ManagerInfo struct {
	Name                      string     `json:"name"`
	Running                   bool       `json:"running"`
	StartedAt                 *time.Time `json:"started_at"`
	UptimeSeconds             float64    `json:"uptime_seconds"`
	LastGlobalCheck           *time.Time `json:"last_global_check"`
	HealthCheckInterval       float64    `json:"health_check_interval"`
	GlobalHealthCheckInterval float64    `json:"global_health_check_interval"`
}

// Totals sum the collectors' states and counters.
type Totals struct {
	Total      int `json:"total"`
	Enabled    int `json:"enabled"`
	Running    int `json:"running"`
	Restarting int `json:"restarting"`
	// Failed counts the collectors in state failed; FailedCollectors is
	// the same number under the seed's name.
	Failed           int `json:"failed"`
	FailedCollectors int `json:"failed_collectors"`
	Stopped          int `json:"stopped"`
	Healthy          int `json:"healthy"`
	Unhealthy        int `json:"unhealthy"`
	// Hung counts abandoned runs that have not returned yet.
	Hung              int    `json:"hung"`
	RestartsPerformed uint64 `json:"restarts_performed"`
	MessagesReceived  uint64 `json:"messages_received"`
	MessagesProcessed uint64 `json:"messages_processed"`
	Records           uint64 `json:"records"`
	Errors            uint64 `json:"errors"`
}

// snapshot is everything reported about one collector at one instant,
// taken under the entry's lock.
type snapshot struct {
	spec        spec.Collector
	state       State
	reason      string
	running     bool
	runStarted  time.Time
	status      collector.Status
	issues      []Issue
	limits      limits
	attempts    int
	nextAttempt time.Time
	restarts    uint64
	restartsBy  map[Trigger]uint64
	errorsBy    map[string]uint64
	lastRestart time.Time
	lastError   string
	lastErrTime time.Time
	checkedAt   time.Time
	at          time.Time
	// elsewhere: another instance owns the collector (RequireOwnership).
	elsewhere bool
}

// snap takes e's snapshot at now, judging its health afresh.
func (m *Manager) snap(e *entry, now time.Time) snapshot {
	owned := m.owns(e.name)
	e.mu.Lock()
	defer e.mu.Unlock()
	s := snapshot{
		spec: e.spec, state: e.state, reason: e.reason, running: e.cur != nil, runStarted: e.runStarted,
		status: e.statusLocked(), attempts: e.attempts, nextAttempt: e.nextAttempt,
		restarts: e.restarts, lastRestart: e.lastRestart, lastError: e.lastError, lastErrTime: e.lastErrorTime,
		checkedAt: e.checkedAt, at: now,
		restartsBy: make(map[Trigger]uint64, len(e.restartsBy)), errorsBy: make(map[string]uint64, len(e.errorsBy)),
	}
	for k, v := range e.restartsBy {
		s.restartsBy[k] = v
	}
	for k, v := range e.errorsBy {
		s.errorsBy[k] = v
	}
	s.limits = limitsFor(&m.cfg, &e.spec)
	s.elsewhere = !owned && !s.running
	switch {
	case !e.spec.IsEnabled():
		s.issues = []Issue{{IssueNotRunning, "disabled"}}
	case s.elsewhere:
		s.issues = []Issue{{IssueNotRunning, "not owned by this instance"}}
	case s.running:
		s.issues = assess(&s.status, e.runStarted, now, &s.limits, e.errorRate)
	case e.state == StateRestarting:
		s.issues = []Issue{{IssueNotRunning, "restarting in " + seconds(e.nextAttempt.Sub(now)) + " after: " + e.reason}}
	case e.state == StateFailed:
		s.issues = []Issue{{IssueNotRunning, "failed: " + e.reason}}
	case e.state == StateRunning:
		s.issues = []Issue{{IssueNotRunning, "starting"}}
	default:
		s.issues = []Issue{{IssueNotRunning, "not started: the supervisor is not running"}}
	}
	for i := range s.issues {
		s.issues[i].Text = m.red.report(s.issues[i].Text)
	}
	return s
}

// lastErr returns the latest of the supervisor's and the collector's errors.
func (s *snapshot) lastErr() (string, time.Time) {
	if s.status.LastError != "" && !s.status.LastErrorTime.Before(s.lastErrTime) {
		return s.status.LastError, s.status.LastErrorTime
	}
	return s.lastError, s.lastErrTime
}

func (m *Manager) collectorReport(s *snapshot) CollectorReport {
	r := CollectorReport{
		Name:              s.spec.Name,
		Exchange:          string(s.spec.Exchange),
		Status:            s.state,
		StatusReason:      m.red.report(s.reason),
		ConnectionState:   string(s.status.State),
		Enabled:           s.spec.IsEnabled(),
		ShouldBeRunning:   s.spec.IsEnabled() && !s.elsewhere,
		IsRunning:         s.running,
		Symbols:           make([]string, 0, len(s.spec.Symbols)),
		DataTypes:         make([]string, 0, len(s.spec.DataTypes)),
		Timeframes:        make([]string, 0, len(s.spec.Timeframes)),
		AutoRestart:       s.spec.RestartsAutomatically(),
		HealthCheckPeriod: secs(checkInterval(&m.cfg, &s.spec)),
		NextAttemptTime:   timePtr(s.nextAttempt),
		Streams:           map[string]StreamReport{},
	}
	if r.ConnectionState == "" {
		r.ConnectionState = string(collector.StateStopped)
	}
	for _, sym := range s.spec.Symbols {
		r.Symbols = append(r.Symbols, string(sym))
	}
	for _, t := range s.spec.DataTypes {
		r.DataTypes = append(r.DataTypes, string(t))
	}
	for _, tf := range s.spec.Timeframes {
		r.Timeframes = append(r.Timeframes, string(tf))
	}
	r.Health = HealthSummary{
		IsHealthy:          len(s.issues) == 0,
		Issues:             issueTexts(s.issues),
		TimeSinceHeartbeat: since(s.at, s.status.LastMessage),
		TimeSinceData:      since(s.at, s.status.LastData),
		MaxSilenceDuration: secs(s.limits.maxSilence),
		HeartbeatTimeout:   secs(s.limits.heartbeat),
		LastCheckTime:      timePtr(s.checkedAt),
	}
	lastErr, lastErrTime := s.lastErr()
	st := Statistics{
		MessagesReceived:  s.status.MessagesReceived,
		MessagesProcessed: s.status.MessagesProcessed,
		Records:           s.status.Records,
		Rejects:           s.status.Rejects,
		Errors:            s.status.Errors + s.errorsBy[errKindExit] + s.errorsBy[errKindPanic] + s.errorsBy[errKindHung],
		Restarts:          s.restarts,
		RestartsByTrigger: map[string]uint64{},
		ReconnectAttempts: s.attempts,
		Reconnects:        s.status.Reconnects,
		LastMessageTime:   timePtr(s.status.LastMessage),
		LastError:         m.red.report(lastErr),
		LastErrorTime:     timePtr(lastErrTime),
		LastRestartTime:   timePtr(s.lastRestart),
		HungStops:         s.errorsBy[errKindHung],
	}
	if s.status.ClockSkewKnown {
		skew := s.status.ClockSkew.Seconds()
		st.ClockSkewSeconds = &skew
	}
	for k, v := range s.restartsBy {
		st.RestartsByTrigger[string(k)] = v
	}
	if s.running {
		st.UptimeSeconds = secs(s.at.Sub(s.runStarted))
	}
	st.ConnectionUptime = secs(connectionUptime(s))
	st.ConnectedSince = timePtr(connectedAt(s))
	r.Statistics = st
	for k, ss := range streamsOf(&s.spec, &s.status) {
		sr := StreamReport{
			DataType:           string(ss.Stream.Type),
			Symbol:             string(ss.Stream.Symbol),
			Timeframe:          string(ss.Stream.Timeframe),
			Subscribed:         ss.Subscribed,
			Records:            ss.Records,
			Gaps:               ss.Gaps,
			OutOfOrder:         ss.OutOfOrder,
			LastData:           timePtr(ss.LastData),
			TimeSinceData:      since(s.at, ss.LastData),
			MaxSilenceDuration: secs(s.limits.silence(ss.Stream.Type)),
			LastError:          m.red.report(ss.LastError),
		}
		if ss.Refused {
			sr.State, sr.RefusedCode, sr.RefusedMessage = "refused", ss.RefusedCode, m.red.report(ss.RefusedMessage)
		}
		r.Streams[k] = sr
	}
	return r
}

func (m *Manager) healthReport(s *snapshot) HealthReport {
	return HealthReport{
		Name:             s.spec.Name,
		IsHealthy:        len(s.issues) == 0,
		Issues:           issueTexts(s.issues),
		Status:           s.state,
		LastHeartbeat:    timePtr(s.status.LastMessage),
		LastDataReceived: timePtr(s.status.LastData),
		ShouldBeRunning:  s.spec.IsEnabled() && !s.elsewhere,
		IsRunning:        s.running,
		CheckedAt:        s.at.UTC(),
	}
}

// health returns e's health judged at now.
func (m *Manager) health(e *entry, now time.Time) HealthReport {
	s := m.snap(e, now)
	return m.healthReport(&s)
}

// Report returns the manager's status with every collector's.
func (m *Manager) Report() Report {
	now := m.cfg.Now()
	m.mu.Lock()
	info := ManagerInfo{
		Name:                      m.cfg.Name,
		Running:                   m.phase == phaseRunning,
		StartedAt:                 timePtr(m.startedAt),
		LastGlobalCheck:           timePtr(m.lastGlobal),
		HealthCheckInterval:       secs(m.cfg.HealthCheckInterval),
		GlobalHealthCheckInterval: secs(m.cfg.GlobalHealthCheckInterval),
	}
	if info.Running {
		info.UptimeSeconds = secs(now.Sub(m.startedAt))
	}
	ents := m.sortedLocked()
	m.mu.Unlock()
	rep := Report{Manager: info, Collectors: make(map[string]CollectorReport, len(ents))}
	t := &rep.Statistics
	t.Hung = len(m.runs.hung())
	for _, e := range ents {
		s := m.snap(e, now)
		cr := m.collectorReport(&s)
		rep.Collectors[e.name] = cr
		t.Total++
		if cr.Enabled {
			t.Enabled++
			if cr.Health.IsHealthy {
				t.Healthy++
			} else {
				t.Unhealthy++
			}
		}
		switch cr.Status {
		case StateRunning:
			t.Running++
		case StateRestarting:
			t.Restarting++
		case StateFailed:
			t.Failed++
			t.FailedCollectors++
		default:
			t.Stopped++
		}
		t.RestartsPerformed += cr.Statistics.Restarts
		t.MessagesReceived += cr.Statistics.MessagesReceived
		t.MessagesProcessed += cr.Statistics.MessagesProcessed
		t.Records += cr.Statistics.Records
		t.Errors += cr.Statistics.Errors
	}
	return rep
}

// connectedAt is when the current run last became connected: zero when
// no run is active or it is not connected.
func connectedAt(s *snapshot) time.Time {
	if !s.running {
		return time.Time{}
	}
	return s.status.ConnectedSince
}

// connectionUptime is the seed's connection_uptime: how long the current
// connection has been up, 0 when not connected.
func connectionUptime(s *snapshot) time.Duration {
	t := connectedAt(s)
	if t.IsZero() {
		return 0
	}
	return s.at.Sub(t)
}

// secs renders d as seconds rounded to the millisecond.
func secs(d time.Duration) float64 {
	return math.Round(d.Seconds()*1000) / 1000
}

// since returns the seconds from t to now, or nil when t is zero.
func since(now, t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	v := secs(now.Sub(t))
	return &v
}

// timePtr returns t in UTC, or nil when t is zero.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// sortedNames returns the keys of m sorted.
func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package supervisor

import (
	"context"
	"time"

	"go.uber.org/zap"

	"marketetl/store"
)

// historyRows returns one collector_status row per collector at now.
func (m *Manager) historyRows(now time.Time) []store.CollectorStatus {
	ents := m.sorted()
	rows := make([]store.CollectorStatus, 0, len(ents))
	for _, e := range ents {
		s := m.snap(e, now)
		if s.elsewhere {
			continue // its owner writes its history
		}
		r := m.collectorReport(&s)
		rows = append(rows, store.CollectorStatus{
			Time:                 now.UTC(),
			Collector:            r.Name,
			Exchange:             r.Exchange,
			Status:               string(r.Status),
			Healthy:              r.Health.IsHealthy,
			Issues:               r.Health.Issues,
			MessagesReceived:     r.Statistics.MessagesReceived,
			MessagesProcessed:    r.Statistics.MessagesProcessed,
			Records:              r.Statistics.Records,
			Errors:               r.Statistics.Errors,
			Restarts:             r.Statistics.Restarts,
			ReconnectAttempts:    r.Statistics.Reconnects,
			TimeSinceDataSeconds: r.Health.TimeSinceData,
			LastError:            r.Statistics.LastError,
		})
	}
	return rows
}

// writeHistory writes one round of history rows in one statement. A
// failure is logged (once until the next success) and counted; the next
// round tries again.
func (m *Manager) writeHistory(ctx context.Context) {
	rows := m.historyRows(m.cfg.Now())
	if len(rows) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.HealthCheckInterval)
	defer cancel()
	if err := m.hist.InsertStatus(wctx, rows); err != nil {
		m.historyFailures.Add(1)
		if !m.historyFailing.Swap(true) {
			m.log.Error("write collector status history", zap.Int("rows", len(rows)), zap.String("error", m.red.err(err)))
		}
		return
	}
	if m.historyFailing.Swap(false) {
		m.log.Info("collector status history written again")
	}
	m.historyWritten.Add(uint64(len(rows)))
}

// deleteOldHistory deletes history rows older than StatusRetention.
func (m *Manager) deleteOldHistory(ctx context.Context) {
	before := m.cfg.Now().Add(-m.cfg.StatusRetention)
	dctx, cancel := context.WithTimeout(ctx, m.cfg.RetentionInterval)
	defer cancel()
	n, err := m.hist.DeleteStatusBefore(dctx, before)
	if err != nil {
		m.log.Error("delete old collector status history", zap.String("error", m.red.err(err)))
		return
	}
	if n > 0 {
		m.log.Info("deleted old collector status history", zap.Int64("rows", n), zap.Time("before", before))
	}
}

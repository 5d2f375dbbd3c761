package supervisor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/spec"
)

func TestMetricsEndpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAPIHarness(t, APIConfig{Token: testToken}, Config{})
		a.f.set("bad", failing(errTransient))
		a.start(newSpec("a", withSymbols("BTC-USDT", "ETH-USDT")), newSpec("bad"))
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		_, body := a.do("GET", "/metrics", "", "")
		for _, want := range []string{
			`etl_collector_records_total{collector="a",data_type="trade",exchange="okx",symbol="ETH-USDT",timeframe=""} 3`,
			`etl_collector_messages_received_total{collector="a",exchange="okx"} 3`,
			`etl_collector_messages_processed_total{collector="a",exchange="okx"} 3`,
			`etl_collector_last_data_age_seconds{collector="a",data_type="trade",exchange="okx",symbol="BTC-USDT",timeframe=""} 0.001`,
			`etl_collector_up{collector="a",exchange="okx"} 1`,
			`etl_collector_healthy{collector="a",exchange="okx"} 1`,
			`etl_collector_uptime_seconds{collector="a",exchange="okx"} 2.001`,
			`etl_collector_state{collector="bad",exchange="okx",state="restarting"} 1`,
			`etl_collector_restarts_total{collector="bad",exchange="okx",trigger="exited"} 0`,
			`etl_collector_errors_total{collector="bad",exchange="okx",kind="exit"} 1`,
			`etl_collector_consecutive_failures{collector="bad",exchange="okx"} 1`,
			`etl_supervisor_collectors{state="running"} 1`,
			`etl_supervisor_hung_runs 0`,
		} {
			if !strings.Contains(body, want+"\n") {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if code, _ := a.do("DELETE", "/api/collectors/bad", testToken, ""); code != http.StatusOK {
			t.Fatalf("DELETE = %d", code)
		}
		if _, body = a.do("GET", "/metrics", "", ""); strings.Contains(body, `collector="bad"`) {
			t.Error("/metrics still has series of the removed collector")
		}
		a.mustStop()
	})
}

// TestAnomaliesMetric: the protocol anomalies a collector counted are
// served as etl_protocol_anomalies_total by exchange and kind, every kind
// present (0 when none was seen).
func TestAnomaliesMetric(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAPIHarness(t, APIConfig{Token: testToken}, Config{})
		a.f.set("an", func(ctx context.Context, r *fakeRunner) error {
			r.mu.Lock()
			r.st.Anomalies = map[string]uint64{collector.AnomalyUnknownErrorCode: 2, collector.AnomalyBadField: 1}
			r.mu.Unlock()
			return healthy(ctx, r)
		})
		a.start(newSpec("an"))
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		_, body := a.do("GET", "/metrics", "", "")
		for _, want := range []string{
			`etl_protocol_anomalies_total{exchange="okx",kind="unknown_error_code"} 2`,
			`etl_protocol_anomalies_total{exchange="okx",kind="bad_field"} 1`,
			`etl_protocol_anomalies_total{exchange="okx",kind="unknown_message"} 0`,
			`etl_protocol_anomalies_total{exchange="okx",kind="subscription_refused"} 0`,
		} {
			if !strings.Contains(body, want+"\n") {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		a.mustStop()
	})
}

// BenchmarkScrape measures one /metrics gathering with 100 collectors of
// 10 streams each.
func BenchmarkScrape(b *testing.B) {
	reg := prometheus.NewRegistry()
	m, err := New(Config{Registerer: reg}, newFactory().build, newRegistry(), &fakeHistory{})
	if err != nil {
		b.Fatal(err)
	}
	var specs []spec.Collector
	for i := range 100 {
		specs = append(specs, newSpec(fmt.Sprintf("c%03d", i), withSymbols("BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "ADA-USDT"),
			func(s *spec.Collector) { s.DataTypes = []market.DataType{market.TypeTrade, market.TypeTicker} }))
	}
	if _, err := m.Reconcile(b.Context(), specs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

package pubsub

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"marketetl/dbtest"
	"marketetl/market"
)

// TestPublishLatencyHistogram publishes records received weeks ago, just
// now, and with no receipt time, and checks the histogram: one observation
// per published record with a receipt time, under its exchange, each
// measured from the receipt to the reply.
func TestPublishLatencyHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	before := latencyByExchange(t, reg)
	for _, ex := range market.Exchanges() {
		h, ok := before[string(ex)]
		if !ok || h.count != 0 {
			t.Errorf("%s: want a series at zero before anything is published, got %v", ex, h)
		}
	}

	_, prefix := testRedis(t)
	p := start(t, Config{URL: dbtest.RedisURL(), ChannelPrefix: prefix, Metrics: m})
	await(t, "the publisher to connect", func() bool { return p.Status().Connected })
	var recs []market.Record
	for i := range 7 { // received at base, weeks ago
		recs = append(recs, trade(t, market.OKX, "BTC-USDT", i))
	}
	started := time.Now()
	for i := range 3 {
		tr := trade(t, market.Binance, "BTC-USDT", i)
		tr.Received = time.Now()
		recs = append(recs, tr)
	}
	for i := range 2 { // no receipt time: not measured
		tr := trade(t, market.Coinbase, "BTC-USD", i)
		tr.Received = time.Time{}
		recs = append(recs, tr)
	}
	for _, r := range recs {
		p.Publish(r)
	}
	await(t, "every record's outcome", func() bool { return p.Status().Pending == 0 })
	elapsed := time.Since(started)
	st := p.stop(t)
	checkAccounting(t, st, len(recs))
	if st.Published != uint64(len(recs)) {
		t.Fatalf("published %d of %d: %+v", st.Published, len(recs), st)
	}

	got := latencyByExchange(t, reg)
	okx, binance, coinbase := got["okx"], got["binance"], got["coinbase"]
	if okx.count != 7 || binance.count != 3 || coinbase.count != 0 {
		t.Fatalf("observations: okx %d (want 7), binance %d (want 3), coinbase %d (want 0)", okx.count, binance.count, coinbase.count)
	}
	// Weeks-old receipts are beyond the last bucket, and their latency
	// counts from the receipt.
	if okx.withinBuckets != 0 {
		t.Errorf("okx: %d weeks-old receipts within the finite buckets", okx.withinBuckets)
	}
	var floor float64
	for _, r := range recs[:7] {
		floor += started.Sub(r.Header().Received).Seconds()
	}
	if okx.sum < floor {
		t.Errorf("okx: latency sum %gs, below the %gs since the receipts", okx.sum, floor)
	}
	// Fresh receipts: between receipt and the end of the wait.
	if s := binance.sum; s < 0 || s > 3*elapsed.Seconds() {
		t.Errorf("binance: latency sum %gs, outside [0, %gs]", s, 3*elapsed.Seconds())
	}
}

// histogram is what the test reads of one exchange's histogram.
type histogram struct {
	count uint64
	sum   float64
	// withinBuckets is the cumulative count of the last finite bucket.
	withinBuckets uint64
}

// latencyByExchange gathers reg's publish latency histograms by exchange.
func latencyByExchange(t *testing.T, reg *prometheus.Registry) map[string]histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]histogram{}
	for _, mf := range mfs {
		if mf.GetName() != LatencyMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			b := h.GetBucket()
			for _, l := range m.GetLabel() {
				if l.GetName() == "exchange" {
					out[l.GetValue()] = histogram{count: h.GetSampleCount(), sum: h.GetSampleSum(), withinBuckets: b[len(b)-1].GetCumulativeCount()}
				}
			}
		}
	}
	return out
}

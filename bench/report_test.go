package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRecorderPercentiles(t *testing.T) {
	r := newRecorder()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var received []time.Time
	for ms := 1; ms <= 1000; ms++ {
		received = append(received, now.Add(-time.Duration(ms)*time.Millisecond))
	}
	r.since(now, received)
	r.since(now, []time.Time{now.Add(time.Second)}) // a clock step backwards counts as 1 µs
	s := r.summary()
	if s.Count != 1001 {
		t.Fatalf("count %d, want 1001", s.Count)
	}
	near := func(name string, got, want float64) {
		if got < want*0.99 || got > want*1.01 {
			t.Errorf("%s = %.3f ms, want %.3f ms within 1%%", name, got, want)
		}
	}
	near("p50", s.P50, 500)
	near("p99", s.P99, 990)
	near("p99.9", s.P999, 999)
	near("max", s.Max, 1000)
	if (&recorder{h: newRecorder().h}).summary() != (Latency{}) {
		t.Error("an empty recorder's summary is not zero")
	}
}

func TestTableHasEveryRowAndTargets(t *testing.T) {
	res := &Result{
		Exchange:   "binance",
		Throughput: &PhaseResult{Records: 1000, Rate: 120_000, SustainedSeconds: 31, CPUSecondsPerMillion: 3, PeakRSS: 100 << 20},
		Latency: &PhaseResult{OfferedRate: 20_000, AchievedRate: 19_990,
			ToPublish: &Latency{Count: 10, P50: 1, P99: 4, P999: 6, Max: 9}, ToCommit: &Latency{Count: 10, P50: 30, P99: 120, P999: 130, Max: 140}},
		Burst: &PhaseResult{Records: 2000, Committed: 2000, Published: 2000, PeakRSS: 300 << 20,
			Server: ServerStats{Pings: 10, Pongs: 10}},
		Stall: &PhaseResult{Records: 400, Committed: 400, Published: 399, Lost: 0, OfferedRate: 20_000, StallSeconds: 10,
			PublishDuringStall: &Latency{Count: 200, P99: 3}, CommitAfterStall: &Latency{Count: 100, P99: 900}},
		Copy:  &Load{Rows: 1000, Seconds: 0.01, Rate: 100_000},
		Naive: &Load{Rows: 100, Seconds: 0.1, Rate: 1000},
	}
	res.finish()
	var b bytes.Buffer
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	table := b.String()
	for _, name := range TableRows {
		if !strings.Contains(table, "| "+name+" |") {
			t.Errorf("table has no row %q:\n%s", name, table)
		}
	}
	if !strings.Contains(table, "120,000 records/s") || !strings.Contains(table, "| 1.20 | ≥ 0.8 | yes |") {
		t.Errorf("table:\n%s", table)
	}
	met := map[string]bool{}
	for _, c := range res.Targets {
		met[c.Name] = c.Met
	}
	want := map[string]bool{
		"end-to-end records/s": true, "end-to-end / COPY": true, "receipt->publish p99 ms": true,
		"receipt->commit p99 ms": false, "burst records lost": true, "burst disconnects": true, "burst peak RSS MB": false,
		"stall receipt->publish p99 ms": true, "stall records lost": false, // one not published
	}
	for k, v := range want {
		if got, ok := met[k]; !ok || got != v {
			t.Errorf("target %q met = %v (present %v), want %v", k, got, ok, v)
		}
	}
	var j bytes.Buffer
	if err := res.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Throughput.Rate != 120_000 || back.Latency.ToCommit.P99 != 120 || len(back.Targets) != len(res.Targets) {
		t.Fatalf("JSON round trip: %+v", back)
	}
	// Missing phases still give every row.
	b.Reset()
	if err := (&Result{}).WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, name := range TableRows {
		if !strings.Contains(b.String(), "| "+name+" |") {
			t.Errorf("empty result's table has no row %q", name)
		}
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 123456.7: "123,457", -1234: "-1,234"} {
		if got := num(in); got != want {
			t.Errorf("num(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusKB(t *testing.T) {
	status := []byte("Name:\tetl\nVmPeak:\t  200 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 100 kB\n")
	if got := statusKB(status, "VmHWM:"); got != 12345 {
		t.Fatalf("VmHWM = %d, want 12345", got)
	}
	if got := statusKB(status, "Nope:"); got != 0 {
		t.Fatalf("missing field = %d, want 0", got)
	}
	if cpuTime() <= 0 {
		t.Fatal("no CPU time")
	}
}

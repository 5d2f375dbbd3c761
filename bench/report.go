package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"marketetl/market"
)

// Result is a run's measurements; it is written as JSON (bench-result.json)
// and printed as a table.
type Result struct {
	Exchange market.Exchange `json:"exchange"`
	Started  time.Time       `json:"started"`
	Machine  Machine         `json:"machine"`
	// Generate is how long the frame server took to pre-generate the frames, in seconds.
	Generate   float64      `json:"generate_seconds"`
	Throughput *PhaseResult `json:"throughput"`
	Latency    *PhaseResult `json:"latency"`
	Burst      *PhaseResult `json:"burst"`
	// Stall is the latency phase again with the trades table locked for
	// a while in the middle.
	Stall    *PhaseResult `json:"stall,omitempty"`
	Copy     *Load        `json:"copy"`
	PsqlCopy *Load        `json:"psql_copy,omitempty"`
	Naive    *Load        `json:"naive"`
	// CopyRatio is the sustained end-to-end rate over the pgx CopyFrom
	// rate; PsqlRatio over the psql \copy rate (0: not measured).
	CopyRatio float64 `json:"copy_ratio"`
	PsqlRatio float64 `json:"psql_copy_ratio,omitempty"`
	Targets   []Check `json:"targets"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryMB   int64  `json:"memory_mb"`
	OS         string `json:"os"`
	Go         string `json:"go"`
	PostgreSQL string `json:"postgresql"`
	Redis      string `json:"redis"`
}

// PhaseResult is one service phase's measurements.
type PhaseResult struct {
	Name string `json:"name"`
	// Records sent: Trades plus Candles.
	Records int64 `json:"records"`
	Trades  int   `json:"trades"`
	Candles int   `json:"candles"`
	// OfferedRate is the server's target rate (0: as fast as taken);
	// AchievedRate what it wrote, first frame to last.
	OfferedRate  float64 `json:"offered_rate"`
	AchievedRate float64 `json:"achieved_rate"`
	// Seconds from the service's start to the last record committed and
	// published.
	Seconds float64 `json:"seconds"`
	// Committed rows (OnFlush) and Published messages (OnPublishReceived).
	Committed int64 `json:"committed"`
	Published int64 `json:"published"`
	// The sustained window, after the warm-up, to the last record
	// committed and published, and its rate.
	SustainedSeconds float64 `json:"sustained_seconds"`
	SustainedRecords int64   `json:"sustained_records"`
	Rate             float64 `json:"rate"`
	// WarmupIncluded is true when the phase ended before the warm-up did:
	// the window is then the whole phase.
	WarmupIncluded bool `json:"warmup_included"`
	// CPU of this process: over the whole phase, and per million records
	// over the sustained window.
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million"`
	// PeakRSS of this process during the phase, in bytes (0: unknown).
	PeakRSS int64 `json:"peak_rss_bytes"`
	// Rows in the tables after the phase (all phases so far), and records
	// sent but not stored.
	RowsTrades  int64 `json:"rows_trades"`
	RowsCandles int64 `json:"rows_candles"`
	Lost        int64 `json:"lost"`
	// Latencies per record (latency phase only).
	ToPublish *Latency `json:"receipt_to_publish,omitempty"`
	ToCommit  *Latency `json:"receipt_to_commit,omitempty"`
	// Stall phase only: how long the trades table was locked, receipt to
	// publish of the records received meanwhile, and receipt to commit of
	// those received after it.
	StallSeconds       float64       `json:"stall_seconds,omitempty"`
	PublishDuringStall *Latency      `json:"receipt_to_publish_during_stall,omitempty"`
	CommitAfterStall   *Latency      `json:"receipt_to_commit_after_stall,omitempty"`
	Server             ServerStats   `json:"server"`
	Service            ServiceStatus `json:"service"`
}

// Load is one way of loading rows into the database alone.
type Load struct {
	Method  string  `json:"method"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
}

// Check is one target of issue #7 and whether the run met it.
type Check struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
}

// finish computes the ratio and checks the targets.
func (r *Result) finish() {
	if r.Copy != nil && r.Copy.Rate > 0 && r.Throughput != nil {
		r.CopyRatio = r.Throughput.Rate / r.Copy.Rate
	}
	if r.PsqlCopy != nil && r.PsqlCopy.Rate > 0 && r.Throughput != nil {
		r.PsqlRatio = r.Throughput.Rate / r.PsqlCopy.Rate
	}
	r.Targets = nil
	add := func(name string, v float64, target string, met bool) {
		r.Targets = append(r.Targets, Check{Name: name, Value: v, Target: target, Met: met})
	}
	if t := r.Throughput; t != nil {
		add("end-to-end records/s", t.Rate, ">= 100000", t.Rate >= 100_000)
		add("end-to-end / COPY", r.CopyRatio, ">= 0.8", r.CopyRatio >= 0.8)
		add("throughput publisher drops", float64(t.Service.Dropped), "= 0", t.Service.Dropped == 0)
		if r.PsqlCopy != nil {
			add("end-to-end / psql \\copy", r.PsqlRatio, ">= 0.8", r.PsqlRatio >= 0.8)
		}
	}
	if l := r.Latency; l != nil && l.ToPublish != nil && l.ToCommit != nil {
		add("receipt->publish p99 ms", l.ToPublish.P99, "<= 5", l.ToPublish.P99 <= 5)
		add("receipt->commit p99 ms", l.ToCommit.P99, "<= 100", l.ToCommit.P99 <= 100)
	}
	if st := r.Stall; st != nil && st.PublishDuringStall != nil && st.PublishDuringStall.Count > 0 {
		add("stall receipt->publish p99 ms", st.PublishDuringStall.P99, "<= 5", st.PublishDuringStall.P99 <= 5)
		ok := st.Lost == 0 && st.Committed == st.Records && st.Published == st.Records
		add("stall records lost", float64(st.Lost), "= 0 (sent = committed = published)", ok)
	}
	if b := r.Burst; b != nil {
		add("burst records lost", float64(b.Lost), "= 0", b.Lost == 0)
		disc := float64(b.Server.ServerCloses) + float64(b.Service.Reconnects)
		add("burst disconnects", disc, "= 0", disc == 0)
		mb := float64(b.PeakRSS) / (1 << 20)
		add("burst peak RSS MB", mb, "<= 256", b.PeakRSS > 0 && mb <= 256)
	}
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write benchmark result: %w", err)
	}
	return nil
}

// TableRows are the first cells of the table's rows, in order; the test
// checks that the table has every one.
var TableRows = []string{
	"end-to-end throughput",
	"PostgreSQL COPY (pgx CopyFrom)",
	"PostgreSQL \\copy (psql, CSV)",
	"end-to-end / COPY",
	"naive INSERT per row",
	"receipt → publish",
	"receipt → commit",
	"burst",
	"burst loss",
	"burst disconnects",
	"burst pings answered",
	"burst peak RSS",
	"CPU per million records",
	"peak RSS (throughput)",
	"stall: receipt → publish during the stall",
	"stall: receipt → commit after the stall",
	"stall: sent / committed / published",
}

// WriteTable writes r as one markdown table.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	row := func(name, value, target string, met *bool) {
		m := ""
		if met != nil {
			m = "no"
			if *met {
				m = "yes"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, value, target, m)
	}
	yes := func(v bool) *bool { return &v }
	na := "n/a"
	fmt.Fprintf(&b, "| measurement (%s frames) | value | target | met |\n|---|---|---|---|\n", r.Exchange)
	t, l, bu := r.Throughput, r.Latency, r.Burst
	if t != nil {
		how := "after the warm-up"
		if t.WarmupIncluded {
			how = "warm-up included: too few records"
		}
		if t.Service.Dropped > 0 {
			how += fmt.Sprintf("; %d not published: the publisher's queue was full", t.Service.Dropped)
		}
		row(TableRows[0], fmt.Sprintf("%s records/s (%d records; sustained over %.1f s, %s)",
			num(t.Rate), t.Records, t.SustainedSeconds, how), "≥ 100,000 trades/s", yes(t.Rate >= 100_000 && t.Service.Dropped == 0))
	} else {
		row(TableRows[0], na, "≥ 100,000 trades/s", nil)
	}
	if r.Copy != nil {
		row(TableRows[1], fmt.Sprintf("%s records/s (%d rows in %.2f s)", num(r.Copy.Rate), r.Copy.Rows, r.Copy.Seconds), "", nil)
	} else {
		row(TableRows[1], na, "", nil)
	}
	if r.PsqlCopy != nil {
		row(TableRows[2], fmt.Sprintf("%s records/s (%d rows in %.2f s)", num(r.PsqlCopy.Rate), r.PsqlCopy.Rows, r.PsqlCopy.Seconds), "", nil)
	} else {
		row(TableRows[2], "n/a (psql not found)", "", nil)
	}
	row(TableRows[3], fmt.Sprintf("%.2f", r.CopyRatio), "≥ 0.8", yes(r.CopyRatio >= 0.8))
	if r.Naive != nil {
		speedup := ""
		if t != nil && r.Naive.Rate > 0 {
			speedup = fmt.Sprintf("; end-to-end is %.0f× faster", t.Rate/r.Naive.Rate)
		}
		row(TableRows[4], fmt.Sprintf("%s records/s (%d rows%s)", num(r.Naive.Rate), r.Naive.Rows, speedup), "", nil)
	} else {
		row(TableRows[4], na, "", nil)
	}
	lat := func(x *Latency) string {
		if x == nil {
			return na
		}
		return fmt.Sprintf("p50 %.2f / p99 %.2f / p99.9 %.2f / max %.2f ms (%d records)", x.P50, x.P99, x.P999, x.Max, x.Count)
	}
	if l != nil {
		at := fmt.Sprintf(" at %s msg/s offered (%s achieved)", num(l.OfferedRate), num(l.AchievedRate))
		row(TableRows[5], lat(l.ToPublish)+at, "p99 ≤ 5 ms", yes(l.ToPublish != nil && l.ToPublish.P99 <= 5))
		row(TableRows[6], lat(l.ToCommit)+at, "p99 ≤ 100 ms", yes(l.ToCommit != nil && l.ToCommit.P99 <= 100))
	} else {
		row(TableRows[5], na, "p99 ≤ 5 ms", nil)
		row(TableRows[6], na, "p99 ≤ 100 ms", nil)
	}
	if bu != nil {
		row(TableRows[7], fmt.Sprintf("%s msg/s offered for %d records, %s written; all committed and published %.1f s after start",
			num(bu.OfferedRate), bu.Records, num(bu.AchievedRate), bu.Seconds), "", nil)
		row(TableRows[8], fmt.Sprintf("%d (sent %d, committed %d, published %d)", bu.Lost, bu.Records, bu.Committed, bu.Published), "0", yes(bu.Lost == 0))
		disc := bu.Server.ServerCloses + int(bu.Service.Reconnects)
		row(TableRows[9], fmt.Sprintf("%d (server closes %d, collector reconnects %d)", disc, bu.Server.ServerCloses, bu.Service.Reconnects), "0", yes(disc == 0))
		row(TableRows[10], fmt.Sprintf("%d of %d pings", bu.Server.Pongs, bu.Server.Pings), "", nil)
		row(TableRows[11], mib(bu.PeakRSS), "≤ 256 MB", yes(bu.PeakRSS > 0 && bu.PeakRSS <= 256<<20))
	} else {
		for _, name := range TableRows[7:12] {
			row(name, na, "", nil)
		}
	}
	if t != nil {
		row(TableRows[12], fmt.Sprintf("%.2f CPU s (sustained window; %.1f CPU s over the phase)", t.CPUSecondsPerMillion, t.CPUSeconds), "", nil)
		row(TableRows[13], mib(t.PeakRSS), "", nil)
	} else {
		row(TableRows[12], na, "", nil)
		row(TableRows[13], na, "", nil)
	}
	if st := r.Stall; st != nil && st.PublishDuringStall != nil && st.PublishDuringStall.Count > 0 {
		at := fmt.Sprintf(" at %s msg/s offered, trades locked for %.1f s", num(st.OfferedRate), st.StallSeconds)
		row(TableRows[14], lat(st.PublishDuringStall)+at, "p99 ≤ 5 ms", yes(st.PublishDuringStall.P99 <= 5))
		row(TableRows[15], lat(st.CommitAfterStall), "", nil)
		ok := st.Lost == 0 && st.Committed == st.Records && st.Published == st.Records
		row(TableRows[16], fmt.Sprintf("%d / %d / %d (lost %d; %d spooled, %d replayed)", st.Records, st.Committed, st.Published, st.Lost,
			st.Service.Spooled, st.Service.Replayed), "equal, 0 lost", yes(ok))
	} else {
		for _, name := range TableRows[14:17] {
			row(name, "n/a (no stall: the phase ended before its warm-up did)", "", nil)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// num formats a rate with thousands separators.
func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// mib formats bytes in MiB; 0 is unknown.
func mib(b int64) string {
	if b <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
}

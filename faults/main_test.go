package faults

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketetl/dbtest"
)

var (
	reportFlag = flag.String("report", "", "write the scenario table (and the soak result) into this markdown file between its markers (default: $FAULTS_REPORT)")
	soakFlag   = flag.Duration("soak", 0, "run TestSoak for this long (0: skip it)")
	longFlag   = flag.Bool("long", false, "also run the scenarios that take minutes (SIGTERM and SIGKILL of the etl process, the database down for minutes; make faults)")
)

// results collects the scenarios' outcomes for the report. It is the one
// package-level value: the testing package gives TestMain no other way to
// see what the tests found.
var results = &resultSet{}

type resultSet struct {
	mu   sync.Mutex
	rows []Result
	soak *Result
	// timescale is the TimescaleDB version the migrated databases of the
	// scenarios had ("" on plain PostgreSQL).
	timescale string
}

// setTimescale records the TimescaleDB version of a migrated database.
func (s *resultSet) setTimescale(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timescale = v
}

func (s *resultSet) add(r Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Number == 0 {
		s.soak = &r
		return
	}
	s.rows = append(s.rows, r)
}

func TestMain(m *testing.M) {
	flag.Parse()
	// The code the suite runs is the code at its start: a commit made
	// while a long soak runs must not be credited with its result.
	prov := provenance()
	code := m.Run()
	path := *reportFlag
	if path == "" {
		path = os.Getenv("FAULTS_REPORT")
	}
	if path != "" {
		if err := writeReport(path, prov); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// writeReport writes the table when every scenario ran (a partial run,
// with -run, leaves the document alone) and the soak result when the soak
// ran.
func writeReport(path string, prov Provenance) error {
	results.mu.Lock()
	defer results.mu.Unlock()
	now := time.Now()
	prov.TimescaleDB = results.timescale
	if len(results.rows) >= len(scenarioNames) {
		if err := UpdateFile(path, TableBegin, TableEnd, RenderTable(results.rows, now, prov)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "faults: wrote %d scenario results to %s\n", len(results.rows), path)
	} else if len(results.rows) > 0 {
		fmt.Fprintf(os.Stderr, "faults: %d of %d scenarios ran; table in %s left as it was\n", len(results.rows), len(scenarioNames), path)
	}
	if results.soak != nil {
		if err := UpdateFile(path, SoakBegin, SoakEnd, renderSoak(*results.soak, now, prov)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "faults: wrote the soak result to %s\n", path)
	}
	return nil
}

// scenarioNames are the faults of the reliability document, by number.
var scenarioNames = map[int]string{
	1:  "exchange connection reset mid-stream, repeatedly",
	2:  "open but silent connection (only pings flow)",
	3:  "trade-id jump in the stream",
	4:  "malformed frames and invalid values among good ones",
	5:  "oversized frame",
	6:  "PostgreSQL down at startup",
	7:  "writer's connection killed during COPY",
	8:  "connection cut right after COMMIT is sent",
	9:  "PostgreSQL down longer than the memory buffer holds",
	10: "spool cap reached",
	11: "slow database",
	12: "Redis down",
	13: "SIGTERM under load",
	14: "SIGKILL under load, then restart",
	15: "a collector that fails on every connect",
	16: "history unavailable for part of a gap",
	17: "Redis down at startup",
	18: "slow Redis",
	19: "REST 429 during a backfill",
	20: "a damaged record in the spool",
	21: "host clock 10 s behind the exchanges",
	22: "host clock 10 s ahead of the exchanges",
	23: "PostgreSQL down for minutes at production rates",
	24: "REST down during a backfill",
	25: "REST 418 (IP ban) during a backfill",
	26: "a subscription refused for one symbol",
	27: "a torn spool segment",
	28: "the spool's disk full",
	29: "order book sequence break (OKX seqId/prevSeqId, Binance U/u)",
	30: "order book checksum mismatch (OKX)",
	31: "crossed order book (each exchange)",
	32: "order book connection drop (OKX, Binance, Coinbase)",
}

// provenance finds the commit the suite runs on and the version of the
// database server, for the report (writeReport adds TimescaleDB's, found
// in the scenarios' migrated databases).
func provenance() Provenance {
	var p Provenance
	if out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		p.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		p.Dirty = len(bytes.TrimSpace(out)) > 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbtest.AdminURL())
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults: database version for the report:", err)
		return p
	}
	defer conn.Close(ctx)
	_ = conn.QueryRow(ctx, `SHOW server_version`).Scan(&p.PostgreSQL)
	return p
}

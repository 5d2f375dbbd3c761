package faults

import (
	"strings"
	"testing"
	"time"
)

func TestReplaceBetween(t *testing.T) {
	doc := []byte("# T\n" + TableBegin + "\nold\n" + TableEnd + "\ntail\n")
	out, err := ReplaceBetween(doc, TableBegin, TableEnd, "new table\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# T\n" + TableBegin + "\nnew table\n" + TableEnd + "\ntail\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if _, err := ReplaceBetween([]byte("no markers"), TableBegin, TableEnd, "x"); err == nil {
		t.Error("no error without markers")
	}
	if _, err := ReplaceBetween([]byte(TableEnd+"\n"+TableBegin), TableBegin, TableEnd, "x"); err == nil {
		t.Error("no error with the end marker before the begin marker")
	}
}

func TestRenderTable(t *testing.T) {
	got := RenderTable([]Result{
		{Number: 2, Scenario: "b|c", Published: 10, Stored: 9, Rejected: 1, Outcome: "pass", Note: "x"},
		{Number: 1, Scenario: "a", Published: 5, Stored: 4, GapsOpen: 1, Recovery: 1500 * time.Microsecond, Outcome: "fail"},
	}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Provenance{Commit: "abc123", PostgreSQL: "15.2"})
	lines := strings.Split(got, "\n")
	if want := "| 1 | a | 5 | 4 | 0 | 0 | 1 (0) | 2ms | fail |"; lines[2] != want {
		t.Errorf("row 1: %q, want %q", lines[2], want)
	}
	if want := `| 2 | b\|c | 10 | 9 | 1 | 0 | 0 (0) | – | pass — x |`; lines[3] != want {
		t.Errorf("row 2: %q, want %q", lines[3], want)
	}
	if !strings.Contains(got, "Generated 2026-01-02T03:04:05Z on commit abc123, PostgreSQL 15.2 without TimescaleDB (plain tables).") {
		t.Errorf("no generation time in\n%s", got)
	}
}

func TestQueryText(t *testing.T) {
	for _, c := range []struct {
		typ  byte
		body string
		want string
	}{
		{'Q', "commit\x00", "COMMIT"},
		{'Q', " COMMIT; \x00", "COMMIT"},
		{'P', "stmt1\x00commit\x00\x00\x00", "COMMIT"},
		{'Q', "copy trades from stdin\x00", "COPY TRADES FROM STDIN"},
		{'S', "", ""},
	} {
		if got := queryText(c.typ, []byte(c.body)); got != c.want {
			t.Errorf("queryText(%c, %q) = %q, want %q", c.typ, c.body, got, c.want)
		}
	}
}

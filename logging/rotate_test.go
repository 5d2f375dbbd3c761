package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRotationKeepsMaxFiles writes past the rotation size many times and
// checks that, with cleanup on, exactly MaxFiles rotated files are kept
// beside etl.log (the newest ones), and that with cleanup off none is
// removed.
func TestRotationKeepsMaxFiles(t *testing.T) {
	tests := []struct {
		name     string
		cleanup  bool
		maxFiles int
		want     int // rotated files left
	}{
		{name: "cleanup keeps MaxFiles", cleanup: true, maxFiles: 3, want: 3},
		{name: "cleanup keeps the default 30", cleanup: true, maxFiles: 30, want: 30},
		{name: "no cleanup keeps all", cleanup: false, maxFiles: 3, want: 59},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			log, closeFn, err := New(Config{Level: "info", Format: "json", Dir: dir, MaxFiles: tc.maxFiles, Cleanup: tc.cleanup,
				MaxBytes: 1000, Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
			if err != nil {
				t.Fatal(err)
			}
			pad := strings.Repeat("x", 600)
			// Each line is over 600 bytes, so a 1000-byte file holds one: 60
			// lines make 59 rotations.
			for i := range 60 {
				log.Info(fmt.Sprintf("line %03d", i), zapString("pad", pad))
				if n := len(rotatedFiles(t, dir)); tc.cleanup && n > tc.maxFiles {
					t.Fatalf("after line %d: %d rotated files, want at most %d", i, n, tc.maxFiles)
				}
			}
			if err := closeFn(); err != nil {
				t.Fatal(err)
			}
			rotated := rotatedFiles(t, dir)
			if len(rotated) != tc.want {
				t.Fatalf("%d rotated files %v, want %d", len(rotated), rotated, tc.want)
			}
			// The newest are kept: the oldest kept holds the line just
			// before the want lines of the newer rotated files and etl.log's.
			oldest := read(t, filepath.Join(dir, rotated[0]))
			if first := 59 - tc.want; !strings.Contains(oldest, fmt.Sprintf("line %03d", first)) {
				t.Errorf("oldest rotated file %s does not start at line %03d:\n%s", rotated[0], first, oldest)
			}
			if cur := read(t, filepath.Join(dir, "etl.log")); !strings.Contains(cur, "line 059") {
				t.Errorf("etl.log does not hold the last line:\n%s", cur)
			}
			for _, name := range append(rotated, "etl.log") {
				if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Size() > 1000 {
					t.Errorf("%s: %v, size over the rotation size", name, err)
				}
			}
		})
	}
}

// rotatedFiles returns the names of the rotated files in dir, oldest first.
func rotatedFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "etl-") && strings.HasSuffix(e.Name(), ".log") {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

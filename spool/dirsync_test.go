package spool

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// dirSyncs counts the directory fsyncs of a spool and notes which segment
// files existed at each.
type dirSyncs struct {
	t     *testing.T
	n     int
	names [][]string
}

func (d *dirSyncs) sync(dir string) error {
	d.n++
	d.names = append(d.names, segmentFiles(d.t, dir))
	return syncDir(dir)
}

// TestDirectoryFsyncedOnSegmentCreateAndRemove: under FsyncAlways (and
// interval), the spool directory is fsynced after a segment file is created
// — before the Append that created it returns — and after one is removed,
// so that neither is undone by a power loss; under FsyncNever it is not.
func TestDirectoryFsyncedOnSegmentCreateAndRemove(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(string(policy), func(t *testing.T) {
			dir := t.TempDir()
			fs := frameSize(t)
			sp := openSpool(t, Config{Dir: dir, SegmentBytes: 2 * fs, Fsync: policy})
			d := &dirSyncs{t: t}
			sp.mu.Lock()
			sp.dirSync = d.sync
			sp.mu.Unlock()
			want := func(what string, n int, files ...string) {
				t.Helper()
				if policy == FsyncNever {
					n = 0
				}
				if d.n != n {
					t.Fatalf("after %s: %d directory syncs, want %d", what, d.n, n)
				}
				if n > 0 && !slices.Equal(d.names[n-1], files) {
					t.Fatalf("after %s: last directory sync saw %v, want %v", what, d.names[n-1], files)
				}
			}
			if err := sp.Append(trade(0)); err != nil {
				t.Fatal(err)
			}
			want("creating segment 1", 1, "000001.spool")
			if err := sp.Append(trade(1)); err != nil {
				t.Fatal(err)
			}
			want("appending to segment 1", 1, "000001.spool")
			// Segment 1 is full: it is sealed (its index written and the
			// directory synced) and segment 2 created.
			if err := sp.Append(trade(2)); err != nil {
				t.Fatal(err)
			}
			want("sealing 1 and creating segment 2", 3, "000001.spool", "000002.spool")
			if _, err := os.Stat(filepath.Join(dir, "000001"+indexExt)); err != nil {
				t.Fatalf("index of the sealed segment: %v", err)
			}
			if err := sp.remove(1); err != nil {
				t.Fatal(err)
			}
			want("removing segment 1", 4, "000002.spool")
		})
	}
}

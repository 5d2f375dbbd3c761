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

// TestRemoveSyncsTheDirectoryUnlocked: removing a replayed segment fsyncs
// the directory without holding the lock appends take, so a replay
// during spooling does not hold up the collectors.
func TestRemoveSyncsTheDirectoryUnlocked(t *testing.T) {
	fs := frameSize(t)
	sp := openSpool(t, Config{Dir: t.TempDir(), SegmentBytes: 2 * fs})
	for i := range 3 { // the third append seals segment 1
		if err := sp.Append(trade(i)); err != nil {
			t.Fatal(err)
		}
	}
	locked, syncs := false, 0
	sp.mu.Lock()
	sp.dirSync = func(dir string) error {
		syncs++
		if sp.mu.TryLock() {
			sp.mu.Unlock()
		} else {
			locked = true
		}
		return syncDir(dir)
	}
	sp.mu.Unlock()
	if err := sp.remove(1); err != nil {
		t.Fatal(err)
	}
	if syncs != 1 || locked {
		t.Fatalf("%d directory syncs (want 1), lock held during it: %v", syncs, locked)
	}
}

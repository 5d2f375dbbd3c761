package spool

import (
	"errors"
	"os"
	"sync/atomic"
	"testing"
)

// gatedSyncFile is a segment file whose Sync announces itself on entered
// and then waits for release before it returns fail (if any).
type gatedSyncFile struct {
	*os.File
	entered chan struct{}
	release chan struct{}
	fail    error
	syncs   *atomic.Int32
}

func (f gatedSyncFile) Sync() error {
	f.syncs.Add(1)
	if f.entered != nil {
		f.entered <- struct{}{}
		<-f.release
	}
	if f.fail != nil {
		return f.fail
	}
	return f.File.Sync()
}

func gatedSpool(t *testing.T, file func(*os.File) gatedSyncFile) *Spool {
	t.Helper()
	return openSpool(t, Config{Dir: t.TempDir(), OpenSegment: func(path string) (SegmentFile, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o640)
		if err != nil {
			return nil, err
		}
		return file(f), nil
	}})
}

// TestAppendDoesNotWaitForTheSync: while the periodic sync's fsync is on
// the disk, appending to the spool goes on (a collector writing to the
// spool during a database stall is not held up by the disk), and the
// sync still returns only when its fsync did.
func TestAppendDoesNotWaitForTheSync(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var syncs atomic.Int32
	sp := gatedSpool(t, func(f *os.File) gatedSyncFile {
		return gatedSyncFile{File: f, entered: entered, release: release, syncs: &syncs}
	})
	if err := sp.Append(trade(0)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sp.Sync() }()
	<-entered
	// The fsync is in progress: the spool's lock must be free.
	if !sp.mu.TryLock() {
		release <- struct{}{}
		<-done
		t.Fatal("the spool's lock is held while the segment is fsynced: Append waits for the disk")
	}
	sp.mu.Unlock()
	for i := 1; i <= 3; i++ {
		if err := sp.Append(trade(i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Sync returned (%v) before its fsync did", err)
	default:
	}
	release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The records appended during the fsync are not covered by it: the
	// next sync writes and syncs them.
	go func() { done <- sp.Sync() }()
	<-entered
	release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 2 {
		t.Fatalf("%d fsyncs, want 2", n)
	}
}

// TestFailedSyncIsRetried: an fsync that failed while the spool was not
// locked leaves the segment unsynced, so the next sync tries again even
// when nothing was appended in between.
func TestFailedSyncIsRetried(t *testing.T) {
	var syncs atomic.Int32
	broken := errors.New("I/O error")
	sp := gatedSpool(t, func(f *os.File) gatedSyncFile {
		return gatedSyncFile{File: f, fail: broken, syncs: &syncs}
	})
	if err := sp.Append(trade(0)); err != nil {
		t.Fatal(err)
	}
	if err := sp.Sync(); !errors.Is(err, broken) {
		t.Fatalf("first sync: %v, want %v", err, broken)
	}
	if err := sp.Sync(); !errors.Is(err, broken) {
		t.Fatalf("second sync: %v, want %v (the failed fsync retried)", err, broken)
	}
	if n := syncs.Load(); n != 2 {
		t.Fatalf("%d fsyncs, want 2", n)
	}
}

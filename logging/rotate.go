package logging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// rotatedLayout names a rotated file: etl-<UTC time of the rotation>.log,
// of fixed width, so that the names sort in the order of rotation.
const rotatedLayout = "2006-01-02T15-04-05.000000000Z"

// olderLayout is the name of files rotated by earlier versions (millisecond
// precision); they are cleaned up like the others.
const olderLayout = "2006-01-02T15-04-05.000"

// rotator is an io.Writer to dir/name (etl.log) that renames the file to
// etl-<time>.log when a write would take it past maxBytes, starts a new
// one, and, when keep >= 0, removes the oldest rotated files beyond keep.
// Rotation and cleanup happen within Write, before it returns: no
// background goroutine, nothing left behind when the process exits.
type rotator struct {
	dir, name string
	maxBytes  int64
	keep      int // rotated files kept; negative keeps all
	now       func() time.Time

	mu   sync.Mutex // guards file and size
	file *os.File
	size int64
}

// newRotator opens (appending to) dir/name.
func newRotator(dir, name string, maxBytes int64, keep int, now func() time.Time) (*rotator, error) {
	r := &rotator{dir: dir, name: name, maxBytes: maxBytes, keep: keep, now: now}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotator) path() string { return filepath.Join(r.dir, r.name) }

// open opens the current file for appending.
func (r *rotator) open() error {
	f, err := os.OpenFile(r.path(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	r.file, r.size = f, info.Size()
	return nil
}

// Write writes p, rotating first when p would take the file past maxBytes
// (a single write larger than that goes to a file of its own).
func (r *rotator) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil {
		return 0, errors.New("log file is closed")
	}
	if r.size > 0 && r.size+int64(len(p)) > r.maxBytes {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.file.Write(p)
	r.size += int64(n)
	return n, err
}

// Sync flushes the current file to disk.
func (r *rotator) Sync() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil {
		return nil
	}
	return r.file.Sync()
}

// Close closes the current file.
func (r *rotator) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil {
		return nil
	}
	err := r.file.Close()
	r.file = nil
	return err
}

// rotate renames the current file, opens a new one and removes the rotated
// files beyond keep.
func (r *rotator) rotate() error {
	if err := r.file.Close(); err != nil {
		return fmt.Errorf("rotate log file: %w", err)
	}
	r.file = nil
	base := strings.TrimSuffix(r.name, filepath.Ext(r.name))
	t := r.now().UTC()
	var target string
	for {
		target = filepath.Join(r.dir, base+"-"+t.Format(rotatedLayout)+filepath.Ext(r.name))
		if _, err := os.Lstat(target); errors.Is(err, os.ErrNotExist) {
			break
		}
		t = t.Add(time.Nanosecond) // two rotations within one clock tick
	}
	if err := os.Rename(r.path(), target); err != nil {
		return fmt.Errorf("rotate log file: %w", err)
	}
	if err := r.open(); err != nil {
		return err
	}
	return r.cleanup()
}

// rotatedFile is a rotated log file and the time in its name.
type rotatedFile struct {
	name string
	at   time.Time
}

// cleanup removes the oldest rotated files beyond keep.
func (r *rotator) cleanup() error {
	if r.keep < 0 {
		return nil
	}
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return fmt.Errorf("clean up log files: %w", err)
	}
	ext := filepath.Ext(r.name)
	prefix := strings.TrimSuffix(r.name, ext) + "-"
	var rotated []rotatedFile
	for _, e := range entries {
		stamp, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if stamp, ok = strings.CutSuffix(stamp, ext); !ok {
			continue
		}
		at, err := time.Parse(rotatedLayout, stamp)
		if err != nil {
			if at, err = time.Parse(olderLayout, stamp); err != nil {
				continue
			}
		}
		rotated = append(rotated, rotatedFile{name: e.Name(), at: at})
	}
	if len(rotated) <= r.keep {
		return nil
	}
	slices.SortFunc(rotated, func(a, b rotatedFile) int { return a.at.Compare(b.at) })
	var errs []error
	for _, f := range rotated[:len(rotated)-r.keep] {
		if err := os.Remove(filepath.Join(r.dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up log files: %w", err)
	}
	return nil
}

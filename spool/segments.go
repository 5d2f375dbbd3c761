package spool

import (
	"errors"
	"fmt"
	"os"
	"slices"
)

// read returns the contents of sealed segment no.
func (s *Spool) read(no int) ([]byte, error) {
	data, err := os.ReadFile(s.path(no))
	if err != nil {
		return nil, fmt.Errorf("read spool segment %d: %w", no, err)
	}
	return data, nil
}

// remove deletes sealed segment no. The directory is fsynced after the
// lock is released: a replay removing segments does not hold up appends.
func (s *Spool) remove(no int) error {
	if err := s.forget(no); err != nil {
		return err
	}
	return s.fsyncDir()
}

// forget deletes sealed segment no and its index, without fsyncing the
// directory.
func (s *Spool) forget(no int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.sealed, func(seg segment) bool { return seg.no == no })
	if i < 0 {
		return fmt.Errorf("remove spool segment %d: not a sealed segment", no)
	}
	if err := os.Remove(s.path(no)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove spool segment %d: %w", no, err)
	}
	s.bytes -= s.sealed[i].size
	s.sealed = slices.Delete(s.sealed, i, i+1)
	return s.dropIndex(no, false)
}

// setAside takes sealed segment no, which cannot be read, out of the
// replay: renamed with the suffix ".unreadable" (for an operator to look
// at) when it still exists, forgotten when it is gone.
func (s *Spool) setAside(no int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.sealed, func(seg segment) bool { return seg.no == no })
	if i < 0 {
		return fmt.Errorf("set aside spool segment %d: not a sealed segment", no)
	}
	p := s.path(no)
	if err := os.Rename(p, p+".unreadable"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("set aside spool segment %d: %w", no, err)
	}
	s.bytes -= s.sealed[i].size
	s.sealed = slices.Delete(s.sealed, i, i+1)
	if err := s.dropIndex(no, true); err != nil {
		return err
	}
	return s.fsyncDir()
}

// empty reports whether the spool holds no segment and no active writes.
func (s *Spool) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sealed) == 0 && s.activeSz == 0
}

// Usage is a snapshot of the spool's size.
type Usage struct {
	// Bytes is the total size of the segment files; Segments their number
	// (the active one included).
	Bytes    int64
	Segments int
	// MaxBytes is the cap.
	MaxBytes int64
	// Appended counts records appended since Open; TornTails counts
	// incomplete records cut off at Open.
	Appended  uint64
	TornTails uint64
	// WriteLost counts records lost to a failed write (a full or failing
	// disk) after Append had taken them.
	WriteLost uint64
}

// Usage returns a snapshot of the spool's size.
func (s *Spool) Usage() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Usage{Bytes: s.bytes, Segments: len(s.sealed), MaxBytes: s.cfg.MaxBytes, Appended: s.appended, TornTails: s.torn, WriteLost: s.writeLost}
	if s.active != nil {
		u.Segments++
	}
	return u
}

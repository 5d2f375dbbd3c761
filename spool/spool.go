package spool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

// FsyncPolicy says when appended records are forced to stable storage.
// Appended records are gathered in a buffer of WriteBufferBytes and written
// to the file (the operating system's page cache) when it fills, when
// Flush is called (Buffer.Run does every FlushDelay) and before every
// fsync, seal and Close. A crash of the process alone therefore loses at
// most the records appended in the last FlushDelay; they are newer than
// anything stored, so the restart's gap detection and backfill cover them.
// The policy decides what an operating-system crash or a power loss can
// lose.
type FsyncPolicy string

// The fsync policies.
const (
	// FsyncInterval syncs the active segment at most every
	// Config.FsyncInterval (by Buffer.Run), when a segment is sealed and on
	// Close: a power loss loses at most the last interval.
	FsyncInterval FsyncPolicy = "interval"
	// FsyncAlways syncs after every record: nothing acknowledged is lost,
	// at the price of one disk flush per record.
	FsyncAlways FsyncPolicy = "always"
	// FsyncNever leaves flushing to the operating system (and Close): a
	// power loss may lose whatever it had not written yet.
	FsyncNever FsyncPolicy = "never"
)

// Config tunes a Spool. A zero field takes its default.
type Config struct {
	// Dir is the spool directory, created if missing. Required.
	Dir string
	// MaxBytes caps the total size of the segment files (default 1 GiB).
	// An Append that would pass it fails with ErrFull.
	MaxBytes int64
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one begun (default 8 MiB, at most MaxBytes). The replay reads a
	// whole segment into memory, so this also bounds that memory.
	SegmentBytes int64
	// Fsync is the fsync policy (default FsyncInterval).
	Fsync FsyncPolicy
	// FsyncInterval is the period of FsyncInterval (default 100ms).
	FsyncInterval time.Duration
	// OpenSegment creates a new segment file for appending (default:
	// os.OpenFile with O_CREATE|O_EXCL|O_WRONLY|O_APPEND, mode 0640). It is
	// the seam through which tests give the spool a disk that fills up or
	// fails; indexes and reads use the file system directly.
	OpenSegment func(path string) (SegmentFile, error)
}

// SegmentFile is the active segment as the spool writes it; *os.File is
// one.
type SegmentFile interface {
	io.Writer
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

// openSegment is Config.OpenSegment's default.
func openSegment(path string) (SegmentFile, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o640)
}

// The defaults of Config.
const (
	DefaultMaxBytes      = 1 << 30
	DefaultSegmentBytes  = 8 << 20
	DefaultFsyncInterval = 100 * time.Millisecond
	// WriteBufferBytes is the size of the buffer records are gathered in
	// before a write to the active segment: one system call per 64 KiB
	// rather than per record.
	WriteBufferBytes = 64 << 10
	// FlushDelay is how long an appended record may wait in that buffer
	// (Buffer.Run flushes it at this period).
	FlushDelay = 10 * time.Millisecond
)

func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("Dir is empty: want a directory"))
	}
	if c.MaxBytes < 0 || c.SegmentBytes < 0 || c.FsyncInterval < 0 {
		errs = append(errs, errors.New("MaxBytes, SegmentBytes and FsyncInterval must not be negative"))
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	c.SegmentBytes = min(c.SegmentBytes, c.MaxBytes)
	if c.FsyncInterval == 0 {
		c.FsyncInterval = DefaultFsyncInterval
	}
	if c.OpenSegment == nil {
		c.OpenSegment = openSegment
	}
	switch c.Fsync {
	case "":
		c.Fsync = FsyncInterval
	case FsyncInterval, FsyncAlways, FsyncNever:
	default:
		errs = append(errs, fmt.Errorf("Fsync is %q: want interval, always or never", c.Fsync))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("spool config: %w", err)
	}
	return c, nil
}

// ErrFull is returned by Append when the record would take the spool past
// Config.MaxBytes.
var ErrFull = errors.New("spool is full")

// ErrTooLarge is returned by Append for a record whose encoding exceeds
// MaxRecordBytes.
var ErrTooLarge = errors.New("record too large for the spool")

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("spool is closed")

const segmentExt = ".spool"

// Spool is a directory of append-only segment files. Its methods are safe
// for concurrent use.
type Spool struct {
	cfg Config
	log *zap.Logger

	// syncMu makes Sync callers wait for each other: a Sync returns only
	// after an fsync that began after its call covered every record
	// appended before it. It is taken before mu, never while holding mu.
	syncMu sync.Mutex
	// syncing counts the fsyncs Sync runs on the active segment without
	// holding mu (so that Append does not wait for the disk). Add is
	// called with mu held; whatever closes the active segment waits for
	// them first, with mu held (they do not take mu before Done).
	syncing sync.WaitGroup
	// syncFailed is set by an fsync run without mu that failed; the next
	// settleSyncsLocked marks the segment dirty again.
	syncFailed atomic.Bool

	mu       sync.Mutex    // guards the fields below
	sealed   []segment     // sealed segments, oldest first
	active   SegmentFile   // nil until the first Append after a seal
	bw       *bufio.Writer // buffers writes to active
	activeNo int           // number of the active (or next) segment
	activeSz int64
	dirty    bool  // the active segment has writes not yet synced
	bytes    int64 // total size of all segments
	closed   bool
	buf      []byte // reused encoding buffer
	frame    []byte // reused frame buffer
	appended uint64
	torn     uint64
	// pending counts the records in bw not yet written to the file, and
	// pendingIdx indexes them; writeLost counts those lost to a failed
	// write, and lost indexes them until the Buffer takes them (takeLost)
	// to report as gaps.
	pending    int
	pendingIdx segIndex
	writeLost  uint64
	lost       segIndex
	hasLost    atomic.Bool // lost holds records: read by takeLost without mu
	lock       *os.File    // holds the directory's lock until Close; nil where locks are not taken
	// activeIdx indexes the records appended to the active segment; it is
	// written beside the segment when the segment is sealed.
	activeIdx segIndex
	// dirSync fsyncs the spool directory (syncDir; a counting hook in tests).
	dirSync func(dir string) error
}

// segment is a sealed segment file.
type segment struct {
	no   int
	size int64
}

// Open opens (creating if need be) the spool directory. The segments it
// holds are sealed, to be replayed oldest first; an incomplete frame at the
// end of the newest (a write cut short by a crash) is cut off. New records
// go to a new segment.
func Open(cfg Config, log *zap.Logger) (*Spool, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s, err := openLocked(cfg, log, lock)
	if err != nil && lock != nil {
		_ = lock.Close()
	}
	return s, err
}

// openLocked is Open once the directory is locked.
func openLocked(cfg Config, log *zap.Logger, lock *os.File) (*Spool, error) {
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s := &Spool{cfg: cfg, log: log, activeNo: 1, lock: lock, activeIdx: segIndex{}, dirSync: syncDir}
	for _, e := range entries {
		no, ok := segmentNo(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("open spool: %w", err)
		}
		s.sealed = append(s.sealed, segment{no: no, size: info.Size()})
	}
	slices.SortFunc(s.sealed, func(a, b segment) int { return a.no - b.no })
	if n := len(s.sealed); n > 0 {
		if err := s.cutTornTail(&s.sealed[n-1]); err != nil {
			return nil, err
		}
		s.activeNo = s.sealed[n-1].no + 1
	}
	for _, seg := range s.sealed {
		s.bytes += seg.size
	}
	if err := s.indexMissingLocked(); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	return s, nil
}

// segmentNo parses "000042.spool".
func segmentNo(name string) (int, bool) {
	base, ok := strings.CutSuffix(name, segmentExt)
	if !ok || base == "" {
		return 0, false
	}
	n, err := strconv.Atoi(base)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

func (s *Spool) path(no int) string {
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("%06d%s", no, segmentExt))
}

// cutTornTail truncates an incomplete last frame of seg.
func (s *Spool) cutTornTail(seg *segment) error {
	data, err := os.ReadFile(s.path(seg.no))
	if err != nil {
		return fmt.Errorf("open spool: check segment %d: %w", seg.no, err)
	}
	res := scanFrames(data, func([]byte) bool { return true })
	if !res.Torn {
		return nil
	}
	if err := os.Truncate(s.path(seg.no), int64(res.Good)); err != nil {
		return fmt.Errorf("open spool: cut torn tail of segment %d: %w", seg.no, err)
	}
	s.log.Warn("spool: cut an incomplete record at the end of a segment (a write cut short)",
		zap.Int("segment", seg.no), zap.Int("bytes", len(data)-res.Good))
	s.torn++
	seg.size = int64(res.Good)
	return nil
}

// Append writes rec at the end of the active segment, sealing it and
// starting a new one when it is full. It fails with ErrFull when the
// spool has reached Config.MaxBytes, ErrTooLarge or ErrUnsupported for a
// record it cannot hold, ErrClosed after Close, and with the I/O error
// when the disk refuses the write.
func (s *Spool) Append(rec market.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var err error
	s.buf, err = encode(s.buf[:0], rec)
	if err != nil {
		return err
	}
	if len(s.buf) > MaxRecordBytes {
		return fmt.Errorf("spool %s (%d bytes): %w", rec.Stream(), len(s.buf), ErrTooLarge)
	}
	s.frame = appendFrame(s.frame[:0], s.buf)
	n := int64(len(s.frame))
	if s.bytes+n > s.cfg.MaxBytes {
		return ErrFull
	}
	if s.active != nil && s.activeSz+n > s.cfg.SegmentBytes {
		if err := s.sealLocked(); err != nil {
			return err
		}
	}
	if s.active == nil {
		f, err := s.cfg.OpenSegment(s.path(s.activeNo))
		if err != nil {
			return fmt.Errorf("spool: create segment %d: %w", s.activeNo, err)
		}
		if err := s.fsyncDir(); err != nil { // the new file's name survives a power loss
			_ = f.Close()
			_ = os.Remove(s.path(s.activeNo))
			return err
		}
		s.active, s.activeSz = f, 0
		if s.bw == nil {
			s.bw = bufio.NewWriterSize(f, WriteBufferBytes)
		} else {
			s.bw.Reset(f)
		}
	}
	s.activeIdx.add(rec)
	w, err := s.bw.Write(s.frame)
	s.activeSz += int64(w)
	s.bytes += int64(w)
	s.dirty = true
	if err != nil {
		// A partial frame is skipped when the segment is read.
		err = fmt.Errorf("spool: append to segment %d: %w", s.activeNo, err)
		s.failLocked(err)
		return err
	}
	s.pending++
	if s.pendingIdx == nil {
		s.pendingIdx = segIndex{}
	}
	s.pendingIdx.add(rec)
	s.appended++
	if s.cfg.Fsync == FsyncAlways {
		return s.syncLocked()
	}
	return nil
}

// flushLocked writes the buffered records to the active segment.
func (s *Spool) flushLocked() error {
	if s.active == nil {
		return nil
	}
	if s.bw.Buffered() > 0 {
		if err := s.bw.Flush(); err != nil {
			err = fmt.Errorf("spool: write to segment %d: %w", s.activeNo, err)
			s.failLocked(err)
			return err
		}
	}
	// Nothing is buffered: every record appended is in the file (a frame
	// larger than the buffer is written at once).
	s.pending = 0
	clear(s.pendingIdx)
	return nil
}

// failLocked handles a failed write to the active segment (a full or
// failing disk): the records still in the buffer are lost and counted
// (WriteLost), and the segment is sealed as it is on disk — a partial frame
// at its end is skipped when it is read — so that the next Append begins a
// new one rather than failing for good on the buffer's kept error.
func (s *Spool) failLocked(cause error) {
	s.writeLost += uint64(s.pending)
	s.log.Error("spool: write failed; records in the write buffer lost, segment sealed",
		zap.Int("records_lost", s.pending), zap.Error(cause))
	s.pending = 0
	if len(s.pendingIdx) > 0 {
		if s.lost == nil {
			s.lost = segIndex{}
		}
		s.lost.merge(s.pendingIdx)
		clear(s.pendingIdx)
		s.hasLost.Store(true)
	}
	s.bw.Reset(io.Discard) // drops the buffer and its error
	s.settleSyncsLocked()  // before the segment is closed
	size := s.activeSz
	if info, err := s.active.Stat(); err == nil {
		size = info.Size()
	}
	s.bytes += size - s.activeSz
	_ = s.active.Close()
	s.sealed = append(s.sealed, segment{no: s.activeNo, size: size})
	if err := s.writeIndexLocked(s.activeNo, s.activeIdx); err != nil {
		s.log.Error("spool: index of a sealed segment not written; damage in it cannot be reported as gaps", zap.Error(err))
	}
	s.activeIdx = segIndex{}
	s.active, s.activeSz, s.dirty = nil, 0, false
	s.activeNo++
}

// takeLost returns, per stream, the bounds of the records lost to failed
// writes since it was last called (nil when none), and forgets them.
func (s *Spool) takeLost() segIndex {
	if !s.hasLost.Load() {
		return nil // the common case, without the lock
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.lost
	s.lost = nil
	s.hasLost.Store(false)
	return x
}

// Flush writes the records appended so far to the active segment (the
// operating system's page cache), without forcing them to disk.
func (s *Spool) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked()
}

// syncLocked writes out buffered records and fsyncs the active segment if
// it has unsynced writes.
func (s *Spool) syncLocked() error {
	s.settleSyncsLocked()
	if err := s.flushLocked(); err != nil {
		return err
	}
	if s.active == nil || !s.dirty {
		return nil
	}
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("spool: fsync segment %d: %w", s.activeNo, err)
	}
	s.dirty = false
	return nil
}

// Sync forces the active segment to stable storage if it has writes not
// yet synced (whatever the policy). The fsync itself runs without holding
// the lock Append takes: appends go on (into the buffer and the page
// cache) while the disk works, so a periodic sync does not hold up the
// collectors writing to the spool.
func (s *Spool) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	s.settleSyncsLocked()
	if err := s.flushLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	if s.active == nil || !s.dirty {
		s.mu.Unlock()
		return nil
	}
	f, no := s.active, s.activeNo
	s.dirty = false // writes from here on make it dirty again
	s.syncing.Add(1)
	s.mu.Unlock()

	err := f.Sync()
	if err != nil {
		s.syncFailed.Store(true) // before Done: settleSyncsLocked sees it
	}
	s.syncing.Done()
	if err != nil {
		return fmt.Errorf("spool: fsync segment %d: %w", no, err)
	}
	return nil
}

// settleSyncsLocked waits for the fsync Sync may be running without the
// lock, and marks the active segment unsynced again when it failed (it
// is still the segment that sync was for: nothing closes the active
// segment without settling first). The caller holds mu.
func (s *Spool) settleSyncsLocked() {
	s.syncing.Wait()
	if s.syncFailed.Swap(false) && s.active != nil {
		s.dirty = true
	}
}

// sealLocked closes the active segment (synced unless the policy is
// never) and makes it the newest sealed one.
func (s *Spool) sealLocked() error {
	if s.active == nil {
		return nil
	}
	s.settleSyncsLocked()
	err := s.flushLocked()
	if s.active == nil {
		return err // the failed write sealed it
	}
	if err == nil && s.cfg.Fsync != FsyncNever {
		err = s.syncLocked()
	}
	if s.active == nil {
		return err
	}
	if cerr := s.active.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("spool: close segment %d: %w", s.activeNo, cerr)
	}
	s.sealed = append(s.sealed, segment{no: s.activeNo, size: s.activeSz})
	if ierr := s.writeIndexLocked(s.activeNo, s.activeIdx); err == nil {
		err = ierr
	}
	s.activeIdx = segIndex{}
	s.active, s.activeSz, s.dirty = nil, 0, false
	s.activeNo++
	return err
}

// oldest returns the oldest sealed segment. When none is sealed and seal
// is true, the active segment is sealed first (if it holds anything). ok
// is false when the spool is empty.
// lastSegment is the number of the newest segment holding records, 0
// when there is none.
func (s *Spool) lastSegment() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := 0
	if n := len(s.sealed); n > 0 {
		last = s.sealed[n-1].no
	}
	if s.active != nil && s.activeSz > 0 {
		last = s.activeNo
	}
	return last
}

// oldestNo is the number of the oldest segment, sealed or active, that
// holds records; ok is false when the spool is empty.
func (s *Spool) oldestNo() (no int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sealed) > 0 {
		return s.sealed[0].no, true
	}
	if s.active != nil && s.activeSz > 0 {
		return s.activeNo, true
	}
	return 0, false
}

func (s *Spool) oldest(seal bool) (no int, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sealed) == 0 && seal {
		err = s.sealLocked()
	}
	if len(s.sealed) == 0 {
		return 0, false, err
	}
	return s.sealed[0].no, true, err
}

// Close syncs (unless the policy is never) and closes the active segment.
// Appends fail afterwards; the files stay for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.active != nil {
		err = s.syncLocked()
	}
	if s.active != nil { // still open unless the write failed and sealed it
		if cerr := s.active.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("spool: close segment %d: %w", s.activeNo, cerr)
		}
		s.active = nil
		// The next Open seals the segment: its index is ready for it.
		if ierr := s.writeIndexLocked(s.activeNo, s.activeIdx); err == nil {
			err = ierr
		}
	}
	if s.lock != nil {
		_ = s.lock.Close() // releases the directory's lock
		s.lock = nil
	}
	return err
}

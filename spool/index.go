package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"marketetl/market"
)

// A segment's index is a small sidecar file, 000042.idx beside
// 000042.spool, naming every stream with records in the segment and the
// exchange-time bounds of those records. It is written (durably, unless
// the policy is never) when the segment is sealed, or built from the
// segment's intact records when the spool is opened after a crash, so
// that records lost to damage — a frame that fails its CRC or cannot be
// decoded, a segment that cannot be read at all — are reported as gaps
// (market.GapSpoolCorrupt) for the backfill to repair.
const indexExt = ".idx"

// bounds are the earliest and latest exchange times of a stream's
// records in a segment.
type bounds struct {
	From, To time.Time
}

// segIndex maps each stream of a segment to the bounds of its records.
type segIndex map[market.Stream]bounds

// fetchable reports whether the backfill can fetch rec again, so that
// losing it is a gap: not a spilled reject, nor an update of a candle
// still forming — the exchange serves a candle only once it has closed,
// and the update that closes it follows; a gap of a forming candle alone
// would be found unfillable.
func fetchable(rec market.Record) bool {
	switch r := rec.(type) {
	case *spilledReject:
		return false
	case *market.Candle:
		return r.Closed || r.Provisional
	}
	return true
}

// add widens the bounds of rec's stream to cover rec, when rec is
// fetchable.
func (x segIndex) add(rec market.Record) {
	if !fetchable(rec) {
		return
	}
	s, t := rec.Stream(), rec.Header().Time
	b, ok := x[s]
	if !ok {
		x[s] = bounds{From: t, To: t}
		return
	}
	if t.Before(b.From) {
		b.From = t
	}
	if t.After(b.To) {
		b.To = t
	}
	x[s] = b
}

// merge widens x to cover the bounds of y.
func (x segIndex) merge(y segIndex) {
	for s, b := range y {
		a, ok := x[s]
		if !ok {
			x[s] = b
			continue
		}
		if b.From.Before(a.From) {
			a.From = b.From
		}
		if b.To.After(a.To) {
			a.To = b.To
		}
		x[s] = a
	}
}

// indexEntry is one stream of a sidecar file.
type indexEntry struct {
	Exchange  market.Exchange  `json:"exchange"`
	Symbol    market.Symbol    `json:"symbol"`
	Type      market.DataType  `json:"type"`
	Timeframe market.Timeframe `json:"timeframe,omitempty"`
	From      time.Time        `json:"from"`
	To        time.Time        `json:"to"`
}

func (s *Spool) indexPath(no int) string {
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("%06d%s", no, indexExt))
}

// writeIndexLocked writes the sidecar of segment no: to a temporary file,
// synced, renamed into place, and the directory synced (unless the policy
// is never), so that a crash leaves either the whole index or none.
func (s *Spool) writeIndexLocked(no int, x segIndex) error {
	entries := make([]indexEntry, 0, len(x))
	for st, b := range x {
		entries = append(entries, indexEntry{Exchange: st.Exchange, Symbol: st.Symbol, Type: st.Type, Timeframe: st.Timeframe,
			From: b.From.UTC(), To: b.To.UTC()})
	}
	slices.SortFunc(entries, func(a, b indexEntry) int { return a.From.Compare(b.From) })
	data, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("spool: index segment %d: %w", no, err)
	}
	p := s.indexPath(no)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: index segment %d: %w", no, err)
	}
	_, err = f.Write(data)
	if err == nil && s.cfg.Fsync != FsyncNever {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("spool: index segment %d: %w", no, err)
	}
	return s.fsyncDir()
}

// readIndex returns the index of segment no.
func (s *Spool) readIndex(no int) (segIndex, error) {
	data, err := os.ReadFile(s.indexPath(no))
	if err != nil {
		return nil, fmt.Errorf("read index of spool segment %d: %w", no, err)
	}
	var entries []indexEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("read index of spool segment %d: %w", no, err)
	}
	x := segIndex{}
	for _, e := range entries {
		x[market.Stream{Exchange: e.Exchange, Symbol: e.Symbol, Type: e.Type, Timeframe: e.Timeframe}] = bounds{From: e.From, To: e.To}
	}
	return x, nil
}

// indexMissingLocked builds the index of each sealed segment that has
// none (the active segment of a run that crashed) from its intact records.
func (s *Spool) indexMissingLocked() error {
	for _, seg := range s.sealed {
		if _, err := os.Stat(s.indexPath(seg.no)); err == nil || !errors.Is(err, os.ErrNotExist) {
			continue
		}
		data, err := os.ReadFile(s.path(seg.no))
		if err != nil {
			continue // unreadable: set aside at replay, without bounds
		}
		x := segIndex{}
		scanFrames(data, func(payload []byte) bool {
			rec, err := decode(payload)
			if err != nil {
				return false
			}
			x.add(rec)
			return true
		})
		if err := s.writeIndexLocked(seg.no, x); err != nil {
			return err
		}
	}
	return nil
}

// dropIndex deletes the index of segment no, or, when keep is true,
// renames it with the suffix ".unreadable" beside its segment.
func (s *Spool) dropIndex(no int, keep bool) error {
	p := s.indexPath(no)
	var err error
	if keep {
		err = os.Rename(p, p+".unreadable")
	} else {
		err = os.Remove(p)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: drop index of segment %d: %w", no, err)
	}
	return nil
}

// fsyncDir fsyncs the spool directory (unless the policy is never),
// so that a segment or index created, renamed or removed stays so after a
// power loss. It needs no lock: callers that can let appends go on while
// the disk works call it without holding mu.
func (s *Spool) fsyncDir() error {
	if s.cfg.Fsync == FsyncNever {
		return nil
	}
	if err := s.dirSync(s.cfg.Dir); err != nil {
		return fmt.Errorf("spool: fsync directory: %w", err)
	}
	return nil
}

// syncDir fsyncs directory dir.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

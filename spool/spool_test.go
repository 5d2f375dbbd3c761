package spool

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

// trade returns trade number i of one stream: same encoded size for every
// i below 100000.
func trade(i int) *market.Trade {
	at := time.Date(2026, 1, 2, 3, 0, 0, 500_000_000, time.UTC).Add(time.Duration(i) * time.Microsecond)
	return &market.Trade{
		Meta:    market.Meta{Exchange: market.Exchange("okx"), Symbol: market.Symbol("BTC-USDT"), Time: at, Received: at.Add(time.Millisecond)},
		TradeID: strconv.Itoa(100000 + i), Price: decimal.RequireFromString("42219.90"), Size: decimal.RequireFromString("0.5"), Side: market.Buy,
	}
}

// frameSize is the size on disk of one trade(i).
func frameSize(t testing.TB) int64 {
	p, err := encode(nil, trade(1))
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(appendFrame(nil, p)))
}

func openSpool(t *testing.T, cfg Config) *Spool {
	t.Helper()
	s, err := Open(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("open spool: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// readAll decodes every record of every sealed segment, oldest first.
func readAll(t *testing.T, s *Spool) ([]market.Record, scanResult) {
	t.Helper()
	var recs []market.Record
	var total scanResult
	for _, seg := range s.sealed {
		data, err := s.read(seg.no)
		if err != nil {
			t.Fatal(err)
		}
		res := scanFrames(data, func(p []byte) bool {
			rec, err := decode(p)
			if err != nil {
				return false
			}
			recs = append(recs, rec)
			return true
		})
		total.Records += res.Records
		total.Corrupt += res.Corrupt
	}
	return recs, total
}

func TestSpoolSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	fs := frameSize(t)
	s := openSpool(t, Config{Dir: dir, SegmentBytes: 4 * fs, Fsync: FsyncAlways})
	for i := range 10 {
		if err := s.Append(trade(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if got, want := segmentFiles(t, dir), []string{"000001.spool", "000002.spool", "000003.spool"}; !reflect.DeepEqual(got, want) {
		t.Errorf("segments %v, want %v", got, want)
	}
	if u := s.Usage(); u.Bytes != 10*fs || u.Segments != 3 || u.Appended != 10 {
		t.Errorf("usage %+v, want 10 frames of %d bytes in 3 segments", u, fs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(trade(10)); !errors.Is(err, ErrClosed) {
		t.Errorf("append after close: %v, want ErrClosed", err)
	}

	again := openSpool(t, Config{Dir: dir, SegmentBytes: 4 * fs})
	recs, res := readAll(t, again)
	if len(recs) != 10 || res.Corrupt != 0 {
		t.Fatalf("reopened: %d records, %d corrupt; want 10, 0", len(recs), res.Corrupt)
	}
	for i, rec := range recs {
		if d, w := describe(reflect.ValueOf(rec)), describe(reflect.ValueOf(trade(i))); d != w {
			t.Errorf("record %d:\n got %s\nwant %s", i, d, w)
		}
	}
	// New records go to a new segment after the old ones.
	if err := again.Append(trade(10)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "000004.spool")); err != nil {
		t.Errorf("new segment: %v", err)
	}
}

func TestSpoolCap(t *testing.T) {
	dir := t.TempDir()
	fs := frameSize(t)
	s := openSpool(t, Config{Dir: dir, MaxBytes: 5 * fs, SegmentBytes: 2 * fs})
	for i := range 5 {
		if err := s.Append(trade(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	for i := 5; i < 8; i++ {
		if err := s.Append(trade(i)); !errors.Is(err, ErrFull) {
			t.Fatalf("append %d past the cap: %v, want ErrFull", i, err)
		}
	}
	if u := s.Usage(); u.Bytes != 5*fs || u.Appended != 5 {
		t.Errorf("usage %+v, want exactly 5 frames", u)
	}
	// Deleting a segment frees its room.
	no, ok, err := s.oldest(false)
	if err != nil || !ok {
		t.Fatalf("oldest: %d %v %v", no, ok, err)
	}
	if err := s.remove(no); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(trade(5)); err != nil {
		t.Errorf("append after a segment was removed: %v", err)
	}
}

func TestSpoolCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	fs := frameSize(t)
	s := openSpool(t, Config{Dir: dir})
	for i := range 3 {
		if err := s.Append(trade(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the fourth write.
	p, err := encode(nil, trade(3))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "000001.spool"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(appendFrame(nil, p)[:fs-7]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	again := openSpool(t, Config{Dir: dir})
	info, err := os.Stat(filepath.Join(dir, "000001.spool"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != 3*fs {
		t.Errorf("segment is %d bytes after open, want %d (torn tail cut)", info.Size(), 3*fs)
	}
	recs, res := readAll(t, again)
	if u := again.Usage(); len(recs) != 3 || res.Corrupt != 0 || u.TornTails != 1 || u.Bytes != 3*fs {
		t.Errorf("%d records, %d corrupt, usage %+v; want 3, 0, one torn tail, %d bytes", len(recs), res.Corrupt, u, 3*fs)
	}
}

func TestSpoolConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no dir":         {},
		"bad policy":     {Dir: t.TempDir(), Fsync: "sometimes"},
		"negative bytes": {Dir: t.TempDir(), MaxBytes: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Open(cfg, nil); err == nil {
				t.Error("opened; want an error")
			}
		})
	}
}

// TestOneProcessPerSpool: a second Open of a directory in use fails with
// an error that says what to do; once the first is closed it succeeds.
func TestOneProcessPerSpool(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir}, nil); err == nil || !strings.Contains(err.Error(), "SPOOL_DIR") {
		t.Fatalf("second Open of a spool in use: %v, want an error naming SPOOL_DIR", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(Config{Dir: dir}, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

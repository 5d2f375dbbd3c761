package spool

import (
	"context"
	"strconv"
	"testing"
	"time"

	"marketetl/market"
)

// BenchmarkAppend measures spooling one trade (one write to the page
// cache; fsync left to the interval).
func BenchmarkAppend(b *testing.B) {
	s, err := Open(Config{Dir: b.TempDir(), SegmentBytes: 64 << 20}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	rec := trade(1)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplayDecode measures scanning and decoding a segment.
func BenchmarkReplayDecode(b *testing.B) {
	var data []byte
	for i := range 10000 {
		p, err := encode(nil, trade(i))
		if err != nil {
			b.Fatal(err)
		}
		data = appendFrame(data, p)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		res := scanFrames(data, func(p []byte) bool {
			_, err := decode(p)
			return err == nil
		})
		if res.Records != 10000 {
			b.Fatalf("%d records", res.Records)
		}
	}
}

// takingWriter is a Writer whose queue always has room; it stores nothing.
type takingWriter struct{}

func (takingWriter) Run(context.Context) error     { return nil }
func (takingWriter) Admit(market.Record) error     { return nil }
func (takingWriter) TryReject(market.Reject) error { return nil }
func (takingWriter) Sync(context.Context) error    { return nil }
func (takingWriter) Write(context.Context, market.Record) error {
	return nil
}

func (takingWriter) TryWriteWithin(market.Record, time.Duration) (bool, error) {
	return true, nil
}

// BenchmarkBufferWrite measures a Write that the writer's queue takes
// (the usual case): finding the record's stream and noting its mark,
// records of 200 streams in turn.
func BenchmarkBufferWrite(b *testing.B) {
	sp, err := Open(Config{Dir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	buf, err := NewBuffer(BufferConfig{}, sp, takingWriter{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sp.Close() }()
	recs := make([]market.Record, 200)
	for i := range recs {
		t := trade(i)
		t.Symbol = market.Symbol("S" + strconv.Itoa(i) + "-USDT")
		recs[i] = t
	}
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := buf.Write(ctx, recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

package spool

import (
	"testing"
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

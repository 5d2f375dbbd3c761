package okx

import (
	"path/filepath"
	"testing"

	"marketetl/collector"
)

func benchmarkDecode(b *testing.B, file string, records int) {
	a, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	frame := readTestdata(b, filepath.Join("ws", file))
	var ev collector.Event
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		ev.Reset()
		if err := a.Decode(frame, received, &ev); err != nil {
			b.Fatal(err)
		}
		if len(ev.Records) != records {
			b.Fatalf("%d records, want %d", len(ev.Records), records)
		}
	}
}

// BenchmarkDecodeTrade decodes the documented one-trade push.
func BenchmarkDecodeTrade(b *testing.B) { benchmarkDecode(b, "trade.json", 1) }

// BenchmarkDecodeTicker decodes the documented ticker push.
func BenchmarkDecodeTicker(b *testing.B) { benchmarkDecode(b, "ticker.json", 1) }

// BenchmarkDecodeCandle decodes a candle push of nine columns.
func BenchmarkDecodeCandle(b *testing.B) { benchmarkDecode(b, "candle1m_closed.json", 1) }

// BenchmarkDecodePong decodes the pong text frame.
func BenchmarkDecodePong(b *testing.B) { benchmarkDecode(b, "pong.txt", 0) }

package kraken

import (
	"testing"

	"marketetl/collector"
)

// decodeAllocs are the allocations of decoding one frame of each kind:
// the record, each decimal's big.Int, the trade id's text, the
// timestamp's text for time.Parse and the scanner's callbacks. A change
// that adds one fails here; measured, not yet minimised (README.md,
// "Performance").
var decodeAllocs = map[string]float64{
	"trade.json":     8,
	"ticker.json":    30,
	"ohlc.json":      16,
	"heartbeat.json": 0,
}

// TestDecodeAllocs keeps the hot path's allocation counts.
func TestDecodeAllocs(t *testing.T) {
	a := newTestAdapter(t)
	for name, want := range decodeAllocs {
		frame := readFile(t, name)
		var ev collector.Event
		_ = a.Decode(frame, received, &ev) // intern the symbol
		got := testing.AllocsPerRun(100, func() {
			ev.Reset()
			if err := a.Decode(frame, received, &ev); err != nil {
				t.Fatal(err)
			}
		})
		if got != want {
			t.Errorf("%s: %v allocations per decode, want %v", name, got, want)
		}
	}
}

func benchmarkDecode(b *testing.B, name string) {
	a := newTestAdapter(b)
	frame := readFile(b, name)
	var ev collector.Event
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		ev.Reset()
		if err := a.Decode(frame, received, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTrade(b *testing.B)  { benchmarkDecode(b, "trade.json") }
func BenchmarkDecodeTicker(b *testing.B) { benchmarkDecode(b, "ticker.json") }
func BenchmarkDecodeCandle(b *testing.B) { benchmarkDecode(b, "ohlc.json") }

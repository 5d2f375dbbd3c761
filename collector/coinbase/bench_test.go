package coinbase

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"marketetl/collector"
)

func benchFrame(b *testing.B, file string) []byte {
	b.Helper()
	frame, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		b.Fatal(err)
	}
	return frame
}

// BenchmarkDecode measures Decode on one documented frame of each kind the
// feed streams. Coinbase streams no candles: see BenchmarkDecodeCandles.
func BenchmarkDecode(b *testing.B) {
	for _, file := range []string{"match.json", "ticker.json", "heartbeat.json"} {
		b.Run(strings.TrimSuffix(file, ".json"), func(b *testing.B) {
			a := newTestAdapter(b)
			frame := benchFrame(b, file)
			var ev collector.Event
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				ev.Reset()
				if err := a.Decode(frame, received, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeCandles measures reading a REST candles response of one
// row (the documented one) and of a full page of 300 rows.
func BenchmarkDecodeCandles(b *testing.B) {
	var page strings.Builder
	page.WriteByte('[')
	const start = 1704067200
	for i := range CandlesPerRequest {
		if i > 0 {
			page.WriteByte(',')
		}
		fmt.Fprintf(&page, "[%d, 42010.5, 42030.25, 42020.1, 42011.75, 12.34567891]", start+int64(CandlesPerRequest-1-i)*60)
	}
	page.WriteByte(']')
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"one_row", benchFrame(b, filepath.Join("rest", "candles_documented.json"))},
		{"page_of_300", []byte(page.String())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeCandles(bc.body, 0, 1<<40); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

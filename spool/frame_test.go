package spool

import (
	"bytes"
	"fmt"
	"testing"
)

// frames returns the frames of payloads "record 0", "record 1", ... and the
// offset at which each starts.
func frames(n int) (data []byte, starts []int) {
	for i := range n {
		starts = append(starts, len(data))
		data = appendFrame(data, fmt.Appendf(nil, "record %d", i))
	}
	return data, starts
}

// scanAll scans data and returns the payloads it accepted.
func scanAll(data []byte) ([]string, scanResult) {
	var got []string
	res := scanFrames(data, func(p []byte) bool {
		got = append(got, string(p))
		return true
	})
	return got, res
}

func want(n int, skip ...int) []string {
	var out []string
	for i := range n {
		if !contains(skip, i) {
			out = append(out, fmt.Sprintf("record %d", i))
		}
	}
	return out
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestScanFrames(t *testing.T) {
	data, starts := frames(10)
	cases := []struct {
		name    string
		mutate  func([]byte) []byte
		want    []string
		corrupt int
		torn    bool
		good    int
	}{
		{name: "intact", mutate: func(b []byte) []byte { return b }, want: want(10), good: len(data)},
		{name: "payload byte flipped", mutate: func(b []byte) []byte { b[starts[4]+headerLen+2] ^= 0xff; return b },
			want: want(10, 4), corrupt: 1, good: len(data)},
		{name: "crc flipped", mutate: func(b []byte) []byte { b[starts[0]+9] ^= 1; return b },
			want: want(10, 0), corrupt: 1, good: len(data)},
		{name: "marker damaged", mutate: func(b []byte) []byte { b[starts[7]] = 0; return b },
			want: want(10, 7), corrupt: 1, good: len(data)},
		{name: "length too large", mutate: func(b []byte) []byte { b[starts[3]+7] = 0x7f; return b },
			want: want(10, 3), corrupt: 1, good: len(data)},
		{name: "length past the end, records follow", mutate: func(b []byte) []byte { b[starts[2]+4] = 0xf0; b[starts[2]+5] = 0xff; return b },
			want: want(10, 2), corrupt: 1, good: len(data)},
		{name: "two adjacent records damaged", mutate: func(b []byte) []byte {
			b[starts[5]+headerLen] ^= 1
			b[starts[6]+headerLen] ^= 1
			return b
		}, want: want(10, 5, 6), corrupt: 1, good: len(data)},
		{name: "garbage between records", mutate: func(b []byte) []byte {
			return append(append(append([]byte{}, b[:starts[1]]...), "junk"...), b[starts[1]:]...)
		}, want: want(10), corrupt: 1, good: len(data) + 4},
		{name: "torn in the payload", mutate: func(b []byte) []byte { return b[:len(b)-3] },
			want: want(9), torn: true, good: starts[9]},
		{name: "torn in the header", mutate: func(b []byte) []byte { return b[:starts[9]+5] },
			want: want(9), torn: true, good: starts[9]},
		{name: "torn in the marker", mutate: func(b []byte) []byte { return b[:starts[9]+2] },
			want: want(9), torn: true, good: starts[9]},
		{name: "last record damaged, not torn", mutate: func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
			want: want(9), corrupt: 1, good: starts[9]},
		{name: "empty", mutate: func([]byte) []byte { return nil }, want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, res := scanAll(tc.mutate(bytes.Clone(data)))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("records %q, want %q", got, tc.want)
			}
			if res.Records != len(tc.want) || res.Corrupt != tc.corrupt || res.Torn != tc.torn || res.Good != tc.good {
				t.Errorf("result %+v, want records %d corrupt %d torn %v good %d", res, len(tc.want), tc.corrupt, tc.torn, tc.good)
			}
		})
	}
}

func TestScanCountsUndecodableAsCorrupt(t *testing.T) {
	data, _ := frames(3)
	n := 0
	res := scanFrames(data, func(p []byte) bool {
		n++
		return string(p) != "record 1"
	})
	if n != 3 || res.Records != 2 || res.Corrupt != 1 {
		t.Errorf("calls %d, result %+v: want 3 calls, 2 records, 1 corrupt", n, res)
	}
}

// FuzzScanFrames: any bytes scan without panicking, every accepted payload
// is one that was framed, and the counts add up.
func FuzzScanFrames(f *testing.F) {
	data, _ := frames(5)
	f.Add(data, 3, byte(0xff))
	f.Add(data, 0, byte(0))
	f.Add([]byte{}, 0, byte(0))
	f.Fuzz(func(t *testing.T, data []byte, at int, x byte) {
		if len(data) > 0 {
			at = (at%len(data) + len(data)) % len(data)
			data[at] ^= x
		}
		got, res := scanAll(data)
		if res.Records != len(got) || res.Good < 0 || res.Good > len(data) {
			t.Fatalf("inconsistent result %+v for %d records", res, len(got))
		}
		for _, p := range got {
			if len(p) > MaxRecordBytes {
				t.Fatalf("payload of %d bytes accepted", len(p))
			}
		}
	})
}

package wire

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
)

// sameDecimal fails unless got is exactly want: the same coefficient and
// exponent, hence the same String, and the same representation (a zero
// holds a big.Int as ParseDecimal's does, not a nil one).
func sameDecimal(t *testing.T, in string, got, want decimal.Decimal) {
	t.Helper()
	if got.Exponent() != want.Exponent() || got.Coefficient().Cmp(want.Coefficient()) != 0 || got.String() != want.String() {
		t.Fatalf("Parse(%q) = %s×10^%d (%s), ParseDecimal %s×10^%d (%s)", in,
			got.Coefficient(), got.Exponent(), got, want.Coefficient(), want.Exponent(), want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(%q) = %#v, ParseDecimal %#v: the same value held differently", in, got, want)
	}
}

// checkParse parses in with m and with ParseDecimal and fails unless both
// give the same decimal or the same error.
func checkParse(t *testing.T, m *Decimals, in string) {
	t.Helper()
	got, err := m.Parse([]byte(in))
	want, werr := ParseDecimal([]byte(in))
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("Parse(%q) error %v, ParseDecimal %v", in, err, werr)
	}
	if err == nil {
		sameDecimal(t, in, got, want)
	}
}

// slotMate returns a short decimal of another coefficient at the same
// scale that takes the same table slot as c at scale, written out.
func slotMate(t *testing.T, c int64, scale int32) string {
	t.Helper()
	slot := decimalsSlot(c, scale)
	for c2 := c + 1; c2 < c+1<<20; c2++ {
		if decimalsSlot(c2, scale) == slot {
			return writeDecimal(c2, scale)
		}
	}
	t.Fatalf("no coefficient near %d shares slot %d", c, slot)
	return ""
}

// writeDecimal writes c × 10^-scale with exactly scale decimals.
func writeDecimal(c int64, scale int32) string {
	s := strconv.FormatInt(c, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if scale > 0 {
		if n := int(scale) + 1 - len(s); n > 0 {
			s = strings.Repeat("0", n) + s
		}
		s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// TestDecimalsParse reads a sequence with one Decimals, so that later
// inputs find earlier ones (hits), replace them (misses after a collision)
// or sit next to keys that differ only in scale or sign, and checks every
// answer against ParseDecimal.
func TestDecimalsParse(t *testing.T) {
	// A key that shares a slot with "42219.90000000" (coefficient
	// 4221990000000, scale 8): another coefficient at the same scale.
	const price, priceC, priceScale = "42219.90000000", 4221990000000, 8
	mate := slotMate(t, priceC, priceScale)
	seq := []string{
		price, price, mate, price, mate, mate, price,
		// Same digits, other scales: "1", "1.0", "1.00" are three keys.
		"1", "1.0", "1.00", "1", "1.00", "1.0", "10", "1.0", "0.10", "10", "0.10",
		"100", "10.0", "1.00", "100",
		// Zeros: "0" is key (0, 0), which an empty entry must not
		// answer; "-0" and "-0.00" read as zero with their scale.
		"0", "0", "0.00", "-0", "-0.00", "0.00", "0", "0.00000000", "0.00000000",
		// Negative numbers next to their positive twins.
		"-94.99999800", "94.99999800", "-94.99999800", "94.99999800", "-1", "1", "-1",
		// The edges of the short path, and beyond it (the general path,
		// never remembered).
		"999999999999999999", "-999999999999999999", "999999999999999999",
		"99999999999999999.9", "0.00000000000000001", "0.00000000000000001",
		"9999999999999999999", "9999999999999999999", "1.234567890123456789", "1.234567890123456789",
		"-12345678901234567890.123", "9223372036854775807", "-9223372036854775808",
		"9999999999999999999.9999999999999999999", "-100000000000000000000000000000000000000",
		"0.000000000000000001", "0.000000000000000001",
		// Invalid input: the same errors.
		"", "-", ".", ".5", "5.", "1.2.3", "01", "-01.5", "00", "1e5", "+1", "--1", " 1", "1 ",
		"1,000.5", "NaN", "0x10", "−1", "0." + strings.Repeat("0", 10000) + "1",
		// And the first ones again, after all that.
		price, mate, "1.0", "1", "1.00", "0", "-0.00",
	}
	m := new(Decimals)
	for _, in := range seq {
		checkParse(t, m, in)
	}
	// The hash keeps the scales of one coefficient in different slots;
	// an entry of another scale planted in the slot must still not be
	// taken for the key.
	for _, k := range []struct {
		c          int64
		have, want int32
	}{{10, 0, 1}, {10, 1, 0}, {100, 2, 1}, {-5, 0, 3}, {0, 0, 8}, {0, 8, 0}, {4221990000000, 8, 7}} {
		m.t[decimalsSlot(k.c, k.want)] = decimalsEntry{c: k.c, scale: k.have, used: true, d: decimal.New(k.c, -k.have)}
		checkParse(t, m, writeDecimal(k.c, k.want))
	}
	// A nil Decimals parses without remembering.
	for _, in := range seq[:20] {
		checkParse(t, nil, in)
	}
}

// TestDecimalsHitAllocs: a decimal found in the table costs no allocation;
// one that is not costs the two of a new decimal.
func TestDecimalsHitAllocs(t *testing.T) {
	m := new(Decimals)
	b := []byte("42219.90000000")
	want, err := m.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var got decimal.Decimal
	if n := testing.AllocsPerRun(100, func() { got, _ = m.Parse(b) }); n != 0 {
		t.Errorf("a hit allocates %v times, want 0", n)
	}
	sameDecimal(t, string(b), got, want)
	i := 0
	buf := make([]byte, 0, 32)
	if n := testing.AllocsPerRun(100, func() {
		i++
		_, _ = m.Parse(strconv.AppendInt(buf[:0], int64(1_000_000+i), 10))
	}); n != 2 {
		t.Errorf("a miss allocates %v times, want 2", n)
	}
}

// TestDecimalsSharedValue: the decimals a table hands out share their
// coefficient, and arithmetic on one leaves the others as they were.
func TestDecimalsSharedValue(t *testing.T) {
	m := new(Decimals)
	a, _ := m.Parse([]byte("2.50"))
	b, _ := m.Parse([]byte("2.50"))
	_ = a.Add(decimal.New(1, -3)).Sub(b).Mul(b).Neg().Abs().Round(1).Truncate(0)
	_ = decimal.Sum(a, b, a)
	_ = a.DivRound(decimal.New(1, 0), 2)
	a.Coefficient().SetInt64(7)
	c, _ := m.Parse([]byte("2.50"))
	for _, d := range []decimal.Decimal{a, b, c} {
		if d.String() != "2.5" || d.Exponent() != -2 || d.Coefficient().Int64() != 250 {
			t.Fatalf("a shared decimal changed: %s×10^%d", d.Coefficient(), d.Exponent())
		}
	}
}

// TestDecimalsPoolDistinct: a Decimals that was taken and not given back
// is not handed out again.
func TestDecimalsPoolDistinct(t *testing.T) {
	var p DecimalsPool
	out := map[*Decimals]bool{}
	for range 3 {
		for range 8 {
			m := p.Get()
			if out[m] {
				t.Fatal("Get returned a Decimals that is still in use")
			}
			out[m] = true
		}
		for m := range out {
			p.Put(m)
			delete(out, m)
		}
	}
}

// TestDecimalsPool: decoders on several goroutines, each with a Decimals
// of the pool for one call, read the same values as ParseDecimal (run
// with -race: no Decimals is used by two goroutines at once).
func TestDecimalsPool(t *testing.T) {
	var p DecimalsPool
	p.Put(nil)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				m := p.Get()
				in := fmt.Sprintf("%d.%02d", (g+i)%7, i%3)
				got, err := m.Parse([]byte(in))
				p.Put(m)
				want, _ := ParseDecimal([]byte(in))
				if err != nil || got.String() != want.String() || got.Exponent() != want.Exponent() {
					errs <- fmt.Errorf("Parse(%q) = %s×10^%d, %v; want %s×10^%d", in, got.Coefficient(), got.Exponent(), err, want.Coefficient(), want.Exponent())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func FuzzDecimals(f *testing.F) {
	for _, s := range []string{"0.0010", "-12.5", "1", "1.0", "1.00", "-0", "0", "99999999999999999999.9", "1e5", ".5"} {
		f.Add(s, s)
	}
	m := new(Decimals)
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, in := range []string{a, b, a, b} {
			checkParse(t, m, in)
		}
	})
}

// BenchmarkDecimals reads the benchmark's price found in the table, and a
// stream of distinct prices never found.
func BenchmarkDecimals(b *testing.B) {
	b.Run("hit", func(b *testing.B) {
		m := new(Decimals)
		v := []byte("42219.90000000")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Parse(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		m := new(Decimals)
		v := []byte("42219.90000000")
		b.ReportAllocs()
		for b.Loop() {
			// Count up in the last digits: a new key every time.
			for i := len(v) - 1; i >= 0; i-- {
				if v[i] == '.' {
					continue
				}
				if v[i] != '9' {
					v[i]++
					break
				}
				v[i] = '0'
			}
			if _, err := m.Parse(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// stream is a synthetic sequence of decimal strings as an exchange writes
// them (Binance pads prices and sizes to 8 places), for measuring how
// often a Decimals finds them. It is not market data: the hit rate on a
// real stream depends on how often its values repeat within the table's
// reach, which these models only bracket.
type stream struct {
	name string
	// symbols random walks of the price, moving by up to walk ticks of
	// 0.01 per trade, interleaved; each trade is a price and a size.
	symbols, walk int
	// roundLots is the share of sizes drawn from a few round lots; the
	// others are drawn from 1..randomUnits × 10⁻⁵.
	roundLots   float64
	randomUnits int64
}

var streams = []stream{
	{"one symbol, random sizes", 1, 5, 0, 100_000},
	{"one symbol, half round lots", 1, 5, 0.5, 100_000},
	{"eight symbols, half round lots", 8, 5, 0.5, 100_000},
	{"eight symbols, fast walk, random sizes", 8, 50, 0, 100_000},
}

// values returns n values of s: price, size, price, size...
func (s stream) values(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	lots := []int64{100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000} // × 10⁻⁵
	prices := make([]int64, s.symbols)                                                   // in ticks of 0.01
	for i := range prices {
		prices[i] = int64(100+i*997) * 100 * int64(i+1)
	}
	out := make([][]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		p := &prices[i%s.symbols]
		*p += int64(rng.IntN(2*s.walk+1) - s.walk)
		*p = max(*p, 1)
		units := rng.Int64N(s.randomUnits) + 1
		if rng.Float64() < s.roundLots {
			units = lots[rng.IntN(len(lots))]
		}
		out = append(out, fmt.Appendf(nil, "%d.%02d000000", *p/100, *p%100), fmt.Appendf(nil, "%d.%05d000", units/100_000, units%100_000))
	}
	return out
}

// hitRate is the share of vs that a Decimals, fed vs in order, finds.
func hitRate(vs [][]byte) float64 {
	m := new(Decimals)
	hits := 0
	for _, v := range vs {
		if c, scale, ok := parseShortDecimal(v); ok {
			if e := m.t[decimalsSlot(c, scale)]; e.used && e.c == c && e.scale == scale {
				hits++
			}
		}
		if _, err := m.Parse(v); err != nil {
			panic(err)
		}
	}
	return float64(hits) / float64(len(vs))
}

// BenchmarkDecimalsStream reads the synthetic streams with a Decimals
// ("table", reporting the share found as "hits") and without one ("none",
// which is ParseDecimal).
func BenchmarkDecimalsStream(b *testing.B) {
	for _, s := range streams {
		vs := s.values(1 << 16)
		for _, table := range []bool{true, false} {
			name := s.name + "/none"
			var m *Decimals
			if table {
				name, m = s.name+"/table", new(Decimals)
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := m.Parse(vs[i&(len(vs)-1)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
				if table {
					b.ReportMetric(hitRate(vs), "hits")
				}
			})
		}
	}
}

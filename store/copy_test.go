package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// numericCases are decimals whose digits and scale must survive the binary
// numeric encoding.
var numericCases = []string{
	"0", "0.0", "0.10", "0.00000000", "1", "-1", "10", "100", "1e3", "1e4", "12e5", "1.5e-3",
	"9999", "10000", "10001", "99999999", "100000000", "0.0001", "0.00001", "0.12345",
	"64123.45", "0.00123", "-64123.45", "-0.00000001", "5.000", "1234.5678", "12345.6789",
	"0.000000012345678901", "12345678.9012345678", "999999999999999999", "-999999999999999999",
	"9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551616",
	"123456789012345678901234567890.123456789012345678", "-123456789012345678901234567890.123456789012345678",
	"1e-100", "7e100", "1.000000000000000000000000000001", "0.1000000000000000000000000000",
	"1.234567890123456789", "-1.234567890123456789", "9999999999999999999", "-9999999999999999999",
	"-9223372036854775809", "10000000000000000000", "1000000000000000000", "-0.000000000000000001",
}

// TestAppendNumeric decodes the encoding (as PostgreSQL's numeric output
// would print it) and compares it with the decimal written out with its
// scale.
func TestAppendNumeric(t *testing.T) {
	for _, s := range numericCases {
		d := dec(s)
		if got, want := numericText(t, appendNumeric(nil, d)), decimalText(d); got != want {
			t.Errorf("%s: encoded as %s, want %s", s, got, want)
		}
	}
}

// FuzzAppendNumeric compares the binary encoding of any decimal with its
// text form.
func FuzzAppendNumeric(f *testing.F) {
	for _, s := range numericCases {
		d := dec(s)
		f.Add(d.Coefficient().String(), int16(d.Exponent()))
	}
	f.Fuzz(func(t *testing.T, coef string, exp int16) {
		c, ok := new(big.Int).SetString(coef, 10)
		if !ok || len(coef) > 200 {
			t.Skip()
		}
		d := decimal.NewFromBigInt(c, int32(exp))
		if checkNumeric("v", d) != nil {
			t.Skip()
		}
		if got, want := numericText(t, appendNumeric(nil, d)), decimalText(d); got != want {
			t.Fatalf("%se%d: encoded as %s, want %s", coef, exp, got, want)
		}
	})
}

// decimalText is d as PostgreSQL prints a numeric of the same digits and
// scale: the coefficient's digits with -exponent of them after the point.
func decimalText(d decimal.Decimal) string {
	c := d.Coefficient()
	neg := c.Sign() < 0
	digits := new(big.Int).Abs(c).String()
	exp := int(d.Exponent())
	var s string
	switch {
	case exp >= 0:
		s = digits + strings.Repeat("0", exp)
		if c.Sign() == 0 {
			s = "0"
		}
	default:
		scale := -exp
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		s = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// numericText decodes PostgreSQL's binary numeric and prints it as
// numeric_out does; it fails t on a malformed or non-canonical encoding.
func numericText(t testing.TB, b []byte) string {
	t.Helper()
	if len(b) < 8 {
		t.Fatalf("numeric of %d bytes", len(b))
	}
	ndigits := int(binary.BigEndian.Uint16(b))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	sign := binary.BigEndian.Uint16(b[4:])
	dscale := int(binary.BigEndian.Uint16(b[6:]))
	if len(b) != 8+2*ndigits {
		t.Fatalf("numeric of %d bytes holds %d digits", len(b), ndigits)
	}
	digits := make([]int, ndigits)
	for i := range digits {
		digits[i] = int(binary.BigEndian.Uint16(b[8+2*i:]))
		if digits[i] > 9999 {
			t.Fatalf("base-10000 digit %d", digits[i])
		}
	}
	if ndigits > 0 && (digits[0] == 0 || digits[ndigits-1] == 0) {
		t.Fatalf("digits %v: leading or trailing zero digit", digits)
	}
	if sign != numericPosSign && sign != numericNegSign || (ndigits == 0 && sign != numericPosSign) {
		t.Fatalf("sign %#x for digits %v", sign, digits)
	}
	group := func(g int) int { // the digit of weight g
		if i := weight - g; i >= 0 && i < ndigits {
			return digits[i]
		}
		return 0
	}
	var s strings.Builder
	if sign == numericNegSign {
		s.WriteByte('-')
	}
	if weight < 0 || ndigits == 0 {
		s.WriteByte('0')
	} else {
		s.WriteString(strconv.Itoa(group(weight)))
		for g := weight - 1; g >= 0; g-- {
			fmt.Fprintf(&s, "%04d", group(g))
		}
	}
	if dscale > 0 {
		var frac strings.Builder
		for g := -1; frac.Len() < dscale; g-- {
			fmt.Fprintf(&frac, "%04d", group(g))
		}
		s.WriteByte('.')
		s.WriteString(frac.String()[:dscale])
	}
	return s.String()
}

// randomDecimals returns n decimals of 1 to 30 digits, scales -20..10 and
// either sign, from a fixed seed.
func randomDecimals(n int) []decimal.Decimal {
	r := rand.New(rand.NewPCG(7, 11))
	out := make([]decimal.Decimal, n)
	for i := range out {
		var digits strings.Builder
		for range 1 + r.IntN(30) {
			digits.WriteByte(byte('0' + r.IntN(10)))
		}
		c, _ := new(big.Int).SetString(digits.String(), 10)
		if r.IntN(4) == 0 {
			c.Neg(c)
		}
		out[i] = decimal.NewFromBigInt(c, int32(r.IntN(31)-20))
	}
	return out
}

// TestNumericRoundTripPostgres copies decimals through the binary encoder
// into a numeric column and compares what PostgreSQL stored with its
// reading of the same decimal as text (coefficient e exponent): same
// value, same scale.
func TestNumericRoundTripPostgres(t *testing.T) {
	_, pool := migratedDB(t)
	ctx := t.Context()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE nums (i integer, v numeric, txt text)`); err != nil {
		t.Fatal(err)
	}
	var values []decimal.Decimal
	for _, s := range numericCases {
		values = append(values, dec(s))
	}
	values = append(values, randomDecimals(2000)...)
	var e copyEncoder
	e.reset()
	for i, d := range values {
		e.row(3)
		e.int32(int32(i))
		e.numeric(d)
		e.text(d.Coefficient().String() + "e" + strconv.Itoa(int(d.Exponent())))
	}
	e.row(3)
	e.int32(-1)
	e.nullNumeric(decimal.NullDecimal{})
	e.null()
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(e.finish()), `COPY nums (i, v, txt) FROM STDIN (FORMAT binary)`)
	if err != nil {
		t.Fatal(err)
	}
	if int(tag.RowsAffected()) != len(values)+1 {
		t.Fatalf("copied %d rows, want %d", tag.RowsAffected(), len(values)+1)
	}
	rows, err := conn.Query(ctx, `SELECT i, coalesce(v::text, 'NULL'), coalesce(txt::numeric::text, 'NULL') FROM nums ORDER BY i`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var i int
		var got, want string
		if err := rows.Scan(&i, &got, &want); err != nil {
			t.Fatal(err)
		}
		n++
		if got != want {
			t.Errorf("row %d: stored %s, want %s", i, got, want)
		}
		if i >= 0 && got != decimalText(values[i]) {
			t.Errorf("row %d: stored %s, want %s", i, got, decimalText(values[i]))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(values)+1 {
		t.Fatalf("read %d rows, want %d", n, len(values)+1)
	}
}

// TestEncodeRowFields: every table's encoder writes one field per column.
func TestEncodeRowFields(t *testing.T) {
	tk := &market.Ticker{Meta: meta("BTC-USDT", t0), Last: nullDec("1")}
	book := &market.BookSnapshot{Meta: meta("BTC-USDT", t0), Bids: []market.Level{{Price: dec("1"), Size: dec("2")}}}
	bal := &market.Balance{Meta: meta("BTC", t0), Account: "spot", Free: dec("1"), Locked: dec("0")}
	check := func(name string, columns int, encode func(*copyEncoder)) {
		var e copyEncoder
		encode(&e)
		fields := 0
		for b := e.buf; len(b) > 0; fields++ {
			if len(b) < 4 {
				t.Fatalf("%s: %d bytes left after %d fields", name, len(b), fields)
			}
			n := int32(binary.BigEndian.Uint32(b))
			b = b[4:]
			if n > 0 {
				if int(n) > len(b) {
					t.Fatalf("%s: field %d of %d bytes, %d left", name, fields, n, len(b))
				}
				b = b[n:]
			}
		}
		if fields != columns {
			t.Errorf("%s: %d fields, want %d", name, fields, columns)
		}
	}
	check(TableTrades, len(tradesTable.columns), func(e *copyEncoder) { tradesTable.encode(trade(1, "1", "1"), e) })
	check(TableCandles, len(candlesTable.columns), func(e *copyEncoder) { candlesTable.encode(candle(1, "1", true, 1), e) })
	check(TableTickers, len(tickersTable.columns), func(e *copyEncoder) { tickersTable.encode(tk, e) })
	check(TableBookSnapshots, len(bookSnapshotsTable.columns), func(e *copyEncoder) { bookSnapshotsTable.encode(book, e) })
	check(TableBalances, len(balancesTable.columns), func(e *copyEncoder) { balancesTable.encode(bal, e) })
	check(TableRejects, len(rejectsTable.columns), func(e *copyEncoder) { rejectsTable.encode(rejectRow{}, e) })
}

// TestEncodeRowAllocs: encoding a trade allocates nothing once the buffer
// has grown.
func TestEncodeRowAllocs(t *testing.T) {
	tr := trade(1, "64123.45", "0.00123")
	var e copyEncoder
	e.reset()
	tradesTable.encode(tr, &e)
	if n := testing.AllocsPerRun(100, func() {
		e.reset()
		e.row(len(tradesTable.columns))
		tradesTable.encode(tr, &e)
	}); n != 0 {
		t.Fatalf("%v allocations per trade, want 0", n)
	}
}

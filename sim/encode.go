package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// encode returns v as compact JSON, without HTML escaping, fields in
// struct order. The simulator encodes only its own types, made of strings,
// numbers and booleans, so an error is a programming error.
func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("sim: encode " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(encode(v))
}

// dec writes d with its own scale, trailing zeros kept: prices have their
// market's decimals, sizes theirs, sums the larger of their terms'.
func dec(d decimal.Decimal) string {
	if e := d.Exponent(); e < 0 {
		return d.StringFixed(-e)
	}
	return d.String()
}

// ms returns t in Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// msText returns t in Unix milliseconds, as text.
func msText(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// itoa formats an integer.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }

package store

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"marketetl/market"
)

// TestRejectsBoundedAndTruncated: beyond the rate, rejects are counted by
// reason but not stored; stored payloads are cut at a character boundary.
func TestRejectsBoundedAndTruncated(t *testing.T) {
	_, pool := migratedDB(t)
	r := startWriter(t, Config{RejectsPerSecond: 0.001, RejectsBurst: 3, RawLimit: 8, FlushInterval: time.Hour}, pool)
	raw := []byte(`{"p":"é€€€"}`) // the cut at 8 bytes falls inside the second €
	for i := range 10 {
		reason := "bad_side"
		if i >= 6 {
			reason = "bad_symbol"
		}
		err := r.Reject(t.Context(), market.Reject{Received: t0, Exchange: market.OKX, Symbol: "BTC-USDT",
			Type: market.TypeTrade, Reason: reason, Field: "side", Detail: "side \"x\"", Raw: raw})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.RejectsStored != 3 || st.RejectsDropped != 7 ||
		st.DroppedByReason["bad_side"] != 3 || st.DroppedByReason["bad_symbol"] != 4 {
		t.Fatalf("stats: stored %d, dropped %d %v; want 3 stored, 7 dropped (bad_side 3, bad_symbol 4)",
			st.RejectsStored, st.RejectsDropped, st.DroppedByReason)
	}
	var n int
	var stored string
	var rawBytes int
	err := pool.QueryRow(t.Context(), `SELECT count(*) OVER (), raw, raw_bytes FROM rejects
		WHERE reason = 'bad_side' AND exchange = 'okx' AND symbol = 'BTC-USDT' AND data_type = 'trade'
		  AND field = 'side' AND sqlstate IS NULL LIMIT 1`).Scan(&n, &stored, &rawBytes)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || stored != `{"p":"é` || rawBytes != len(raw) {
		t.Fatalf("%d rows, raw %q (%d bytes before cut); want 3 rows, raw %q, %d bytes", n, stored, rawBytes, `{"p":"é`, len(raw))
	}
}

func TestClipText(t *testing.T) {
	tests := []struct {
		name, in string
		limit    int
		want     string
	}{
		{"short ASCII kept", "hello", 10, "hello"},
		{"cut ASCII", "hello world", 5, "hello"},
		{"cut before a split character", "ab€", 4, "ab"},
		{"multi-byte fits", "ab€", 5, "ab€"},
		{"invalid UTF-8 replaced", "a\xffb", 10, "a\uFFFDb"},
		{"NUL replaced", "a\x00b", 10, "a\uFFFDb"},
		{"replacement does not overflow the limit", "ab\xff", 4, "ab"},
		{"zero limit", "abc", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clipText(tt.in, tt.limit)
			if got != tt.want {
				t.Fatalf("clipText(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
			if len(got) > tt.limit || !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
				t.Fatalf("clipText(%q, %d) = %q: too long, invalid or holding NUL", tt.in, tt.limit, got)
			}
		})
	}
}

func TestNewRejectRow(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		in       market.Reject
		rawLimit int
		check    func(rejectRow) bool
	}{
		{"zero received becomes now", market.Reject{Reason: "x"}, 10, func(r rejectRow) bool {
			return r.ts.Equal(now) && !r.exchange.Valid && !r.raw.Valid && !r.rawBytes.Valid
		}},
		{"raw cut, length kept", market.Reject{Reason: "x", Raw: []byte("0123456789abc")}, 10, func(r rejectRow) bool {
			return r.raw.String == "0123456789" && r.rawBytes.Int32 == 13
		}},
		{"negative limit keeps no raw", market.Reject{Reason: "x", Raw: []byte("abc")}, -1, func(r rejectRow) bool {
			return !r.raw.Valid && !r.rawBytes.Valid
		}},
		{"empty raw kept as empty", market.Reject{Reason: "x", Raw: []byte{}}, 10, func(r rejectRow) bool {
			return r.raw.Valid && r.raw.String == "" && r.rawBytes.Int32 == 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newRejectRow(tt.in, "", tt.rawLimit, now); !tt.check(got) {
				t.Fatalf("newRejectRow = %+v", got)
			}
		})
	}
}

package store

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"marketetl/market"
)

// Reasons the store itself gives in the rejects table, besides the
// validation reasons that callers pass to Reject. Like those, they are
// stable.
const (
	// ReasonDatabaseRefused: the database refused the row for good (a data
	// exception or a constraint violation); rejects.sqlstate says which.
	ReasonDatabaseRefused = "database_refused"
	// ReasonUnstorable: a value cannot be represented in its column (a
	// numeric with more than 16383 decimal places, a year beyond 9999).
	ReasonUnstorable = "unstorable_value"
)

// Bounds of the rejects table's short text columns, in bytes.
const (
	maxNameBytes   = 128
	maxFieldBytes  = 256
	maxDetailBytes = 2048
)

// rejectRow is a reject ready to be copied: texts made valid, raw clipped.
type rejectRow struct {
	ts                                time.Time
	exchange, symbol, dataType, field pgtype.Text
	reason                            string
	detail, sqlstate, raw             pgtype.Text
	rawBytes                          pgtype.Int4
}

// newRejectRow clips r's texts and raw payload (to rawLimit bytes; negative
// keeps none). A zero Received becomes now.
func newRejectRow(r market.Reject, sqlstate string, rawLimit int, now time.Time) rejectRow {
	row := rejectRow{
		ts:       r.Received,
		exchange: optText(string(r.Exchange), maxNameBytes),
		symbol:   optText(string(r.Symbol), maxNameBytes),
		dataType: optText(string(r.Type), maxNameBytes),
		reason:   clipText(r.Reason, maxNameBytes),
		field:    optText(r.Field, maxFieldBytes),
		detail:   optText(r.Detail, maxDetailBytes),
		sqlstate: optText(sqlstate, maxNameBytes),
	}
	if row.ts.IsZero() {
		row.ts = now
	}
	if r.Raw != nil && rawLimit >= 0 {
		head := r.Raw[:min(len(r.Raw), rawLimit)]
		row.raw = pgtype.Text{String: clipText(string(head), rawLimit), Valid: true}
		row.rawBytes = pgtype.Int4{Int32: int32(min(len(r.Raw), 1<<31-1)), Valid: true}
	}
	return row
}

// reject turns a row back into the reject it was made from, to be spilled
// and stored at the next start: its texts and raw payload as clipped (so
// raw_bytes will then count the clipped payload).
func (r rejectRow) reject() market.Reject {
	rej := market.Reject{
		Received: r.ts, Exchange: market.Exchange(r.exchange.String), Symbol: market.Symbol(r.symbol.String),
		Type: market.DataType(r.dataType.String), Reason: r.reason, Field: r.field.String, Detail: r.detail.String,
	}
	if r.raw.Valid {
		rej.Raw = []byte(r.raw.String)
	}
	return rej
}

func optText(s string, limit int) pgtype.Text {
	if s == "" {
		return pgtype.Text{}
	}
	return pgtype.Text{String: clipText(s, limit), Valid: true}
}

// clipText returns s as valid UTF-8 without NUL bytes (which a text column
// cannot hold), each offending byte replaced by U+FFFD, cut at a character
// boundary to at most limit bytes.
func clipText(s string, limit int) string {
	clean := len(s) <= limit
	for i := 0; clean && i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == 0 || r == utf8.RuneError && size == 1 {
			clean = false
		}
		i += size
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), limit))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		chunk := s[i : i+size]
		if r == 0 || r == utf8.RuneError && size == 1 {
			chunk = "\uFFFD"
		}
		if b.Len()+len(chunk) > limit {
			break
		}
		b.WriteString(chunk)
		i += size
	}
	return b.String()
}

// recordJSON renders a record for rejects.raw; decimals keep their digits.
func recordJSON(rec market.Record) []byte {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil
	}
	return b
}

// allowReject takes a token for storing one reject with the given reason;
// without a token the reject is counted as dropped.
func (w *Writer) allowReject(reason string) bool {
	if w.limiter.Allow() {
		return true
	}
	w.rejectsDropped.Add(1)
	w.dropMu.Lock()
	w.droppedByReason[reason]++
	w.dropMu.Unlock()
	return false
}

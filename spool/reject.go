package spool

import (
	"marketetl/market"
)

// rejectType is the DataType of a spilled reject in the spool.
const rejectType market.DataType = "reject"

// spilledReject is a reject the store writer could not commit before its
// shutdown deadline, held in the spool like a record and handed back to
// the writer's rejects by the replay. It is a market.Record only so that
// it shares the spool's frames; it never reaches a table.
type spilledReject struct {
	meta market.Meta
	rej  market.Reject
}

func newSpilledReject(r market.Reject) *spilledReject {
	return &spilledReject{meta: market.Meta{Exchange: r.Exchange, Symbol: r.Symbol, Time: r.Received, Received: r.Received}, rej: r}
}

// Header implements market.Record.
func (s *spilledReject) Header() *market.Meta { return &s.meta }

// DataType implements market.Record.
func (*spilledReject) DataType() market.DataType { return rejectType }

// Stream implements market.Record.
func (s *spilledReject) Stream() market.Stream {
	return market.Stream{Exchange: s.rej.Exchange, Symbol: s.rej.Symbol, Type: rejectType}
}

// AppendReject keeps a reject the store writer could not commit at
// shutdown (store.Overflow); the replay hands it back to the writer's
// rejects. It fails like Append.
func (s *Spool) AppendReject(r market.Reject) error {
	return s.Append(newSpilledReject(r))
}

// appendReject encodes a spilled reject (kindReject).
func appendReject(dst []byte, s *spilledReject) []byte {
	r := &s.rej
	dst = appendString(dst, string(r.Exchange))
	dst = appendString(dst, string(r.Symbol))
	dst = appendString(dst, string(r.Type))
	dst = appendTime(dst, r.Received)
	dst = appendString(dst, r.Reason)
	dst = appendString(dst, r.Field)
	dst = appendString(dst, r.Detail)
	dst = appendBool(dst, r.Raw != nil)
	return appendString(dst, string(r.Raw))
}

// reject decodes a spilled reject.
func (r *reader) reject() *spilledReject {
	var rej market.Reject
	rej.Exchange = market.Exchange(r.string())
	rej.Symbol = market.Symbol(r.string())
	rej.Type = market.DataType(r.string())
	rej.Received = r.time()
	rej.Reason = r.string()
	rej.Field = r.string()
	rej.Detail = r.string()
	hasRaw := r.bool()
	raw := r.bytes()
	if hasRaw {
		rej.Raw = append([]byte{}, raw...)
	}
	return newSpilledReject(rej)
}

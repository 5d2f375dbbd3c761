package faults

import (
	"bytes"
	"strings"
	"sync/atomic"

	"marketetl/dbtest"
)

// The fault suite's relays are dbtest.Relay; what is here are the
// PostgreSQL hooks its scenarios install on them.

// queryText returns the SQL of a simple Query ('Q') or a Parse ('P')
// message body, upper-cased and trimmed of spaces and a final semicolon.
func queryText(typ byte, body []byte) string {
	switch typ {
	case 'Q':
	case 'P':
		// Parse: statement name\0 query\0 ...
		i := bytes.IndexByte(body, 0)
		if i < 0 {
			return ""
		}
		body = body[i+1:]
	default:
		return ""
	}
	if i := bytes.IndexByte(body, 0); i >= 0 {
		body = body[:i]
	}
	return strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(string(body))), ";")
}

// commitCutter returns a hook maker whose hooks cut a connection right
// after forwarding a COMMIT — for the extended protocol, after the Sync
// that follows a Parse of COMMIT — while budget allows (each cut takes one
// from it). cuts counts the cuts made.
func commitCutter(budget, cuts *atomic.Int64) func() dbtest.PGHook {
	take := func() bool {
		for {
			n := budget.Load()
			if n <= 0 {
				return false
			}
			if budget.CompareAndSwap(n, n-1) {
				cuts.Add(1)
				return true
			}
		}
	}
	return func() dbtest.PGHook {
		armed := false // per connection
		return func(typ byte, body []byte, _ int32) (bool, <-chan struct{}) {
			q := queryText(typ, body)
			isCommit := q == "COMMIT" || q == "END"
			switch {
			case typ == 'Q' && isCommit:
				return take(), nil
			case typ == 'P' && isCommit:
				armed = true
			case typ == 'S' && armed:
				armed = false
				return take(), nil
			}
			return false, nil
		}
	}
}

package faults

import (
	"bytes"
	"encoding/binary"
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

// copyCutter returns a hook maker whose hooks cut a connection right after
// forwarding the CopyDone that ends a COPY into table (an autocommit COPY:
// the server commits it while the client, cut off, never learns whether
// it did), while budget allows. rows receives, for each cut, the number of
// rows that COPY carried (counted in its binary stream).
func copyCutter(table string, budget *atomic.Int64, rows chan<- int) func() dbtest.PGHook {
	prefix := "COPY " + strings.ToUpper(table) + " "
	return func() dbtest.PGHook {
		var inCopy bool // per connection
		var data []byte
		return func(typ byte, body []byte, _ int32) (bool, <-chan struct{}) {
			switch typ {
			case 'Q':
				inCopy, data = strings.HasPrefix(queryText(typ, body), prefix), data[:0]
			case 'd':
				if inCopy {
					data = append(data, body...)
				}
			case 'f':
				inCopy = false
			case 'c':
				if !inCopy {
					return false, nil
				}
				inCopy = false
				for {
					n := budget.Load()
					if n <= 0 {
						return false, nil
					}
					if budget.CompareAndSwap(n, n-1) {
						rows <- copyRows(data)
						return true, nil
					}
				}
			}
			return false, nil
		}
	}
}

// copyRows counts the tuples of a binary COPY stream (-1 when it is not
// one): after the 11-byte signature, flags and the header extension, each
// tuple is a field count and the fields' lengths and bytes, up to the
// trailer's count of -1.
func copyRows(data []byte) int {
	const sig = "PGCOPY\n\xff\r\n\x00"
	if len(data) < 19 || string(data[:11]) != sig {
		return -1
	}
	ext := int(binary.BigEndian.Uint32(data[15:19]))
	p, n := 19+ext, 0
	for p+2 <= len(data) {
		fields := int16(binary.BigEndian.Uint16(data[p:]))
		p += 2
		if fields == -1 {
			return n
		}
		for range fields {
			if p+4 > len(data) {
				return -1
			}
			l := int32(binary.BigEndian.Uint32(data[p:]))
			p += 4
			if l > 0 {
				p += int(l)
			}
		}
		n++
	}
	return -1
}

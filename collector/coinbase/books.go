package coinbase

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// The order book channels (websocket-feed/channels): one snapshot, then
// l2update changes, with no sequence number and no checksum.
// level2_batch is public and batches the changes every 50 ms; level2
// sends every change and needs authentication since 2023-08-01: the
// adapter uses it when it has API keys (Config.Credentials).
const (
	channelLevel2Batch = "level2_batch"
	channelLevel2      = "level2"
)

// Message types of the level2 channels.
const (
	typeSnapshot = "snapshot"
	typeL2Update = "l2update"
)

// BookSequencing implements collector.BookProtocol: level2 messages carry
// no sequence number.
func (a *Adapter) BookSequencing() collector.BookSequencing { return collector.BookUnsequenced }

var _ collector.BookProtocol = (*Adapter)(nil)

// bookSnapshot reads a snapshot message:
// {"type":"snapshot","product_id":"BTC-USD","bids":[["10101.10","0.45054140"]],"asks":[...]}.
// It has no time: the book's time is when it was received.
func (d *decoder) bookSnapshot(f *fields, received time.Time, ev *collector.Event) error {
	pid, err := d.product(f)
	if err != nil {
		return err
	}
	m := collector.BookMessage{Symbol: market.Symbol(pid), Snapshot: true, Time: received}
	if m.Bids, err = d.levels(f.bids, "bids", m.Bids); err != nil {
		return err
	}
	if m.Asks, err = d.levels(f.asks, "asks", m.Asks); err != nil {
		return err
	}
	ev.Books = append(ev.Books, m)
	return nil
}

// l2update reads an l2update message:
// {"type":"l2update","product_id":"BTC-USD","changes":[["buy","22356.270000","0.00000000"]],"time":"..."}.
// A change's size is the level's new total; "0" removes it.
func (d *decoder) l2update(f *fields, ev *collector.Event) error {
	pid, err := d.product(f)
	if err != nil {
		return err
	}
	at, err := d.time(f.time, "time")
	if err != nil {
		return err
	}
	m := collector.BookMessage{Symbol: market.Symbol(pid), Time: at}
	err = d.rows(f.changes, "changes", 3, func(cols []wire.Span) error {
		side, err := d.text(cols[0], "changes.side")
		if err != nil {
			return err
		}
		c := market.BookChange{}
		switch string(side) {
		case "buy":
			c.Side = market.Bid
		case "sell":
			c.Side = market.Ask
		default:
			return d.fail(collector.ReasonBadField, "changes.side", fmt.Errorf("want \"buy\" or \"sell\", got %q", side))
		}
		if c.Price, err = d.decimal(cols[1], "changes.price"); err != nil {
			return err
		}
		if c.Size, err = d.decimal(cols[2], "changes.size"); err != nil {
			return err
		}
		m.Changes = append(m.Changes, c)
		return nil
	})
	if err != nil {
		return err
	}
	ev.Books = append(ev.Books, m)
	return nil
}

// levels reads an array of [price, size] strings.
func (d *decoder) levels(sp wire.Span, field string, out []market.Level) ([]market.Level, error) {
	err := d.rows(sp, field, 2, func(cols []wire.Span) error {
		p, err := d.decimal(cols[0], field+".price")
		if err != nil {
			return err
		}
		s, err := d.decimal(cols[1], field+".size")
		if err != nil {
			return err
		}
		out = append(out, market.Level{Price: p, Size: s})
		return nil
	})
	return out, err
}

// rows reads the array at sp whose elements are arrays of n values, and
// calls row with each element's values.
func (d *decoder) rows(sp wire.Span, field string, n int, row func([]wire.Span) error) error {
	if sp.Kind != wire.KindArray {
		if !sp.Present() {
			return d.fail(collector.ReasonBadField, field, errMissing)
		}
		return d.fail(collector.ReasonBadField, field, errWrongType)
	}
	s := wire.NewScanner(d.b)
	s.Seek(int(sp.Off))
	cols := make([]wire.Span, 0, n)
	return s.Array(func() error {
		if s.Peek() != '[' {
			return d.fail(collector.ReasonBadField, field, errWrongType)
		}
		cols = cols[:0]
		count := 0
		err := s.Array(func() error {
			v, err := s.Value()
			if count < n {
				cols = append(cols, v)
			}
			count++
			return err
		})
		if err != nil {
			return err
		}
		if count != n {
			return d.fail(collector.ReasonBadField, field, fmt.Errorf("a row has %d values, want %d", count, n))
		}
		return row(cols)
	})
}

// BookLevel2 is the level of GET /products/{id}/book used by FetchBook:
// level 2, the aggregated top of the book (websocket-free REST,
// "Get product book").
const BookLevel2 = "2"

var _ collector.BookFetcher = (*Adapter)(nil)

// bookBody is GET /products/{id}/book?level=2's response: levels as
// [price, size, num_orders].
type bookBody struct {
	Bids [][]json.RawMessage `json:"bids"`
	Asks [][]json.RawMessage `json:"asks"`
}

// FetchBook implements collector.BookFetcher with one GET
// /products/{id}/book?level=2: the exchange's aggregated top of the book
// (its size, not depth, decides how many levels come back), used to check
// the unsequenced local book for drift. Its Seq is 0 and its time when it
// was received.
func (a *Adapter) FetchBook(ctx context.Context, sym market.Symbol, _ int) (collector.BookMessage, error) {
	if err := sym.Check(); err != nil {
		return collector.BookMessage{}, fmt.Errorf("coinbase book: %w: %w", err, collector.ErrPermanent)
	}
	q := url.Values{}
	q.Set("level", BookLevel2)
	body, received, err := a.get(ctx, productPath(sym, "book"), q)
	if err != nil {
		return collector.BookMessage{}, fmt.Errorf("coinbase book %s: %w", sym, err)
	}
	var b bookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return collector.BookMessage{}, fmt.Errorf("coinbase book %s: decode response: %w", sym, err)
	}
	m := collector.BookMessage{Symbol: sym, Snapshot: true, Time: received}
	if m.Bids, err = restLevels(b.Bids); err != nil {
		return collector.BookMessage{}, fmt.Errorf("coinbase book %s: bids: %w", sym, err)
	}
	if m.Asks, err = restLevels(b.Asks); err != nil {
		return collector.BookMessage{}, fmt.Errorf("coinbase book %s: asks: %w", sym, err)
	}
	return m, nil
}

func restLevels(rows [][]json.RawMessage) ([]market.Level, error) {
	out := make([]market.Level, 0, len(rows))
	for i, r := range rows {
		if len(r) < 2 {
			return nil, fmt.Errorf("level %d has %d values, want price, size and orders", i, len(r))
		}
		var ps, ss string
		if json.Unmarshal(r[0], &ps) != nil || json.Unmarshal(r[1], &ss) != nil {
			return nil, fmt.Errorf("level %d: price and size must be strings", i)
		}
		p, err := wire.ParseDecimal([]byte(ps))
		if err != nil {
			return nil, fmt.Errorf("level %d price: %w", i, err)
		}
		s, err := wire.ParseDecimal([]byte(ss))
		if err != nil {
			return nil, fmt.Errorf("level %d size: %w", i, err)
		}
		out = append(out, market.Level{Price: p, Size: s})
	}
	return out, nil
}

package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// depthChannel is the diff depth stream at 100 ms: <symbol>@depth@100ms
// (web-socket-streams.md, "Diff. Depth Stream"). Its events carry U and u,
// the first and last update ids; the local book starts from GET
// /api/v3/depth ("How to manage a local order book correctly").
const depthChannel = "depth@100ms"

// depthPath is the REST order book (rest-api.md, "Order book").
const depthPath = "/api/v3/depth"

// depthLimits are the documented limits of GET /api/v3/depth in the
// order of their request weight (1-100: 5, 101-500: 25, 501-1000: 50,
// 1001-5000: 250).
var depthLimits = [...]int{100, 500, 1000, 5000}

// DepthLimit returns the limit FetchBook asks for to keep depth levels
// per side: the smallest documented limit of at least five times depth,
// so that the levels kept stay inside the snapshot while the price moves
// (5000 at most).
func DepthLimit(depth int) int {
	for _, l := range depthLimits {
		if l >= 5*depth {
			return l
		}
	}
	return depthLimits[len(depthLimits)-1]
}

// BookSequencing implements collector.BookProtocol: each diff depth event
// covers the update ids U..u after a REST snapshot's lastUpdateId.
func (a *Adapter) BookSequencing() collector.BookSequencing { return collector.BookRanged }

var (
	_ collector.BookProtocol = (*Adapter)(nil)
	_ collector.BookFetcher  = (*Adapter)(nil)
)

// depth decodes a depthUpdate event: E (event time), U, u, and the bid and
// ask changes b and a as [price, quantity] (a quantity of 0 removes the
// level).
func (d *decoder) depth(p *fields, ev *collector.Event) error {
	ts, err := d.time(p.eTime, "E")
	if err != nil {
		return err
	}
	m := collector.BookMessage{Symbol: d.st.Symbol, Time: ts}
	if m.First, err = d.count(p.uFirst, "U"); err != nil {
		return err
	}
	if m.Seq, err = d.count(p.uLast, "u"); err != nil {
		return err
	}
	if m.First > m.Seq {
		return d.fail(collector.ReasonBadField, "U", fmt.Errorf("U %d after u %d", m.First, m.Seq))
	}
	if err := d.levels(p.b, "b", market.Bid, &m); err != nil {
		return err
	}
	if err := d.levels(p.a, "a", market.Ask, &m); err != nil {
		return err
	}
	ev.Books = append(ev.Books, m)
	return nil
}

// levels reads an array of [price, quantity] strings as changes of side.
func (d *decoder) levels(sp wire.Span, field string, side market.BookSide, m *collector.BookMessage) error {
	if sp.Kind != wire.KindArray {
		if sp.Kind == wire.KindNone {
			return d.fail(collector.ReasonBadField, field, errMissing)
		}
		return d.fail(collector.ReasonBadField, field, errWrongType)
	}
	s := wire.NewScanner(d.b)
	s.Seek(int(sp.Off))
	return s.Array(func() error {
		if s.Peek() != '[' {
			return d.fail(collector.ReasonBadField, field, errWrongType)
		}
		var cols [2]wire.Span
		n := 0
		err := s.Array(func() error {
			v, err := s.Value()
			if n < len(cols) {
				cols[n] = v
			}
			n++
			return err
		})
		if err != nil {
			return err
		}
		if n != 2 {
			return d.fail(collector.ReasonBadField, field, fmt.Errorf("a level has %d values, want price and quantity", n))
		}
		c := market.BookChange{Side: side}
		if c.Price, err = d.decimal(cols[0], field+".price"); err != nil {
			return err
		}
		if c.Size, err = d.decimal(cols[1], field+".quantity"); err != nil {
			return err
		}
		m.Changes = append(m.Changes, c)
		return nil
	})
}

// depthBody is GET /api/v3/depth's response.
type depthBody struct {
	LastUpdateID *int64     `json:"lastUpdateId"`
	Bids         [][]string `json:"bids"`
	Asks         [][]string `json:"asks"`
}

// FetchBook implements collector.BookFetcher with one GET /api/v3/depth
// of DepthLimit(depth) levels, through the REST budget (whose cost table
// knows the weight of each limit).
func (a *Adapter) FetchBook(ctx context.Context, sym market.Symbol, depth int) (collector.BookMessage, error) {
	if err := sym.Check(); err != nil {
		return collector.BookMessage{}, fmt.Errorf("binance depth: %w: %w", err, collector.ErrPermanent)
	}
	q := url.Values{}
	q.Set("symbol", upperSymbol(sym))
	q.Set("limit", strconv.Itoa(DepthLimit(depth)))
	body, received, err := a.get(ctx, depthPath, q)
	if err != nil {
		return collector.BookMessage{}, fmt.Errorf("binance depth %s: %w", sym, err)
	}
	var b depthBody
	if err := json.Unmarshal(body, &b); err != nil {
		return collector.BookMessage{}, fmt.Errorf("binance depth %s: decode response: %w", sym, err)
	}
	if b.LastUpdateID == nil {
		return collector.BookMessage{}, fmt.Errorf("binance depth %s: response without lastUpdateId", sym)
	}
	m := collector.BookMessage{Symbol: sym, Snapshot: true, Seq: *b.LastUpdateID, Time: received}
	if m.Bids, err = restLevels(b.Bids); err != nil {
		return collector.BookMessage{}, fmt.Errorf("binance depth %s: bids: %w", sym, err)
	}
	if m.Asks, err = restLevels(b.Asks); err != nil {
		return collector.BookMessage{}, fmt.Errorf("binance depth %s: asks: %w", sym, err)
	}
	return m, nil
}

func restLevels(rows [][]string) ([]market.Level, error) {
	out := make([]market.Level, 0, len(rows))
	for i, r := range rows {
		if len(r) != 2 {
			return nil, fmt.Errorf("level %d has %d values, want price and quantity", i, len(r))
		}
		p, err := wire.ParseDecimal([]byte(r[0]))
		if err != nil {
			return nil, fmt.Errorf("level %d price: %w", i, err)
		}
		s, err := wire.ParseDecimal([]byte(r[1]))
		if err != nil {
			return nil, fmt.Errorf("level %d quantity: %w", i, err)
		}
		out = append(out, market.Level{Price: p, Size: s})
	}
	return out, nil
}

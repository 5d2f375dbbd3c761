package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"marketetl/market"
)

// The book channels' frames and the REST books, per PROTOCOLS.md: OKX
// books (snapshot, then updates chained by prevSeqId/seqId with the
// checksum of the top 25 levels), Binance <symbol>@depth[@100ms] diff
// events with GET /api/v3/depth, Coinbase level2_batch (snapshot, then
// l2update) with GET /products/{id}/book.

// okxBookData is one element of a books push's data (field order of the
// documented example).
type okxBookData struct {
	Asks      [][4]string `json:"asks"`
	Bids      [][4]string `json:"bids"`
	Ts        string      `json:"ts"`
	Checksum  int64       `json:"checksum"`
	PrevSeqID int64       `json:"prevSeqId"`
	SeqID     int64       `json:"seqId"`
}

type okxBookPush struct {
	Arg    okxArg        `json:"arg"`
	Action string        `json:"action"`
	Data   []okxBookData `json:"data"`
}

// okxOrders is a level's number of orders: some count for a level, "0"
// for a removed one.
func okxOrders(size int64) string {
	if size == 0 {
		return "0"
	}
	return strconv.FormatInt(1+size%7, 10)
}

// okxBookSnapshot returns the books snapshot of in (every level). s.mu is
// held.
func (s *Sim) okxBookSnapshot(in *instrument) []byte {
	if in.book == nil {
		in.book = newSimBook(in, s.cfg.Seed)
	}
	b := in.book
	row := func(levels []market.Level) [][4]string {
		out := make([][4]string, len(levels))
		for i, l := range levels {
			out[i] = [4]string{dec(l.Price), dec(l.Size), "0", okxOrders(l.Size.CoefficientInt64())}
		}
		return out
	}
	sum := b.checksum(in)
	if s.okxChecksumZero {
		sum = 0
	}
	ts := b.time
	if ts.IsZero() {
		ts = s.clock
	}
	return encode(okxBookPush{Arg: okxArg{Channel: "books", InstID: in.native}, Action: "snapshot", Data: []okxBookData{{
		Asks: row(b.levels(in, false, 0)), Bids: row(b.levels(in, true, 0)), Ts: msText(ts),
		Checksum: sum, PrevSeqID: -1, SeqID: b.id,
	}}})
}

func (s *Sim) okxBookUpdate(in *instrument, changes []bookChange, prevID, id, sum int64) {
	topic := "books:" + in.native
	if !s.subscribed(market.OKX, topic) {
		return
	}
	d := okxBookData{Asks: [][4]string{}, Bids: [][4]string{}, Ts: msText(in.book.time), Checksum: sum, PrevSeqID: prevID, SeqID: id}
	for _, c := range changes {
		row := [4]string{priceText(in, c.price), sizeText(in, c.size), "0", okxOrders(c.size)}
		if c.bid {
			d.Bids = append(d.Bids, row)
		} else {
			d.Asks = append(d.Asks, row)
		}
	}
	s.fanout(market.OKX, topic, encode(okxBookPush{Arg: okxArg{Channel: "books", InstID: in.native}, Action: "update", Data: []okxBookData{d}}))
}

func priceText(in *instrument, units int64) string {
	return dec(decimalUnits(units, in.cfg.PriceDecimals))
}

func sizeText(in *instrument, units int64) string {
	return dec(decimalUnits(units, in.cfg.SizeDecimals))
}

// binanceDepthEvent is a diff-depth event (web-socket-streams.md).
type binanceDepthEvent struct {
	Event     string      `json:"e"`
	EventTime int64       `json:"E"`
	Symbol    string      `json:"s"`
	First     int64       `json:"U"`
	Last      int64       `json:"u"`
	Bids      [][2]string `json:"b"`
	Asks      [][2]string `json:"a"`
}

func (s *Sim) binanceDepthUpdate(in *instrument, changes []bookChange, first, last int64) {
	prefix := lower(in.native) + "@"
	var payload []byte
	for _, st := range []string{prefix + "depth@100ms", prefix + "depth"} {
		if !s.subscribed(market.Binance, st) {
			continue
		}
		if payload == nil {
			ev := binanceDepthEvent{Event: "depthUpdate", EventTime: ms(in.book.time), Symbol: in.native, First: first, Last: last,
				Bids: [][2]string{}, Asks: [][2]string{}}
			for _, c := range changes {
				row := [2]string{priceText(in, c.price), sizeText(in, c.size)}
				if c.bid {
					ev.Bids = append(ev.Bids, row)
				} else {
					ev.Asks = append(ev.Asks, row)
				}
			}
			payload = encode(ev)
		}
		s.binanceFanout(st, payload)
	}
}

// binanceDepth is the REST depth snapshot.
type binanceDepth struct {
	LastUpdateID int64       `json:"lastUpdateId"`
	Bids         [][2]string `json:"bids"`
	Asks         [][2]string `json:"asks"`
}

// Binance's depth limits (rest-api.md): default 100, at most 5000.
const (
	binanceDepthDefault = 100
	binanceDepthMax     = 5000
)

// binanceDepthREST serves GET /api/v3/depth.
func (s *Sim) binanceDepthREST(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.binanceParse(w, r)
	if !ok {
		return
	}
	limit := binanceDepthDefault
	if n, ok := q.ints["limit"]; ok {
		limit = int(min(n, binanceDepthMax))
	}
	in := q.in
	if in.book == nil {
		in.book = newSimBook(in, s.cfg.Seed)
	}
	rows := func(levels []market.Level) [][2]string {
		out := make([][2]string, len(levels))
		for i, l := range levels {
			out[i] = [2]string{dec(l.Price), dec(l.Size)}
		}
		return out
	}
	writeJSON(w, http.StatusOK, binanceDepth{LastUpdateID: in.book.id,
		Bids: rows(in.book.levels(in, true, limit)), Asks: rows(in.book.levels(in, false, limit))})
}

// coinbaseBookSnapshot is the level2 channels' first message.
type coinbaseBookSnapshot struct {
	Type      string      `json:"type"`
	ProductID string      `json:"product_id"`
	Bids      [][2]string `json:"bids"`
	Asks      [][2]string `json:"asks"`
}

// coinbaseL2Update carries [side, price, new size] changes.
type coinbaseL2Update struct {
	Type      string      `json:"type"`
	ProductID string      `json:"product_id"`
	Changes   [][3]string `json:"changes"`
	Time      string      `json:"time"`
}

// coinbaseL2Channels are the level2 channels: level2_batch and its alias
// level2_50 are public; level2 is served to an authenticated subscribe
// (the simulator sends the same l2update frames on all three).
var coinbaseL2Channels = []string{"level2_batch", "level2_50", coinbaseLevel2}

// coinbaseLevel2 is the order book channel that needs authentication.
const coinbaseLevel2 = "level2"

// authenticate checks the key, passphrase, timestamp and signature of a
// subscribe message that carries them (PROTOCOLS.md §7.2: the pre-hash is
// timestamp + "GET" + "/users/self/verify"). A message without them is
// not authenticated (authed false); one whose check fails is refused
// whole with Coinbase's error frame (refused true), as is counted in
// CoinbaseAuthRefusals. s.mu is held.
func (cb *coinbaseSession) authenticate(msg []byte, typ string) (authed, refused bool) {
	var f coinbaseAuthFields
	if typ != "subscribe" || json.Unmarshal(msg, &f) != nil || f.Key == "" && f.Signature == "" {
		return false, false
	}
	s := cb.c.s
	ts := strings.Trim(string(f.Timestamp), `"`)
	if reason := s.coinbaseCheckAuth(f.Key, f.Passphrase, ts, "GET", "/users/self/verify", f.Signature); reason != "" {
		s.coinbaseAuthRefusals++
		cb.c.send(encode(coinbaseError{Type: "error", Message: "Sorry, you could not be authenticated: Bad Request", Reason: reason}))
		return false, true
	}
	return true, false
}

// CoinbaseAuthRefusals returns how many signed Coinbase subscribe messages
// for market data were refused (a bad signature, key, passphrase or
// timestamp) since the start.
func (s *Sim) CoinbaseAuthRefusals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.coinbaseAuthRefusals
}

// CoinbaseBookChannels returns the level2 channels some connection has
// subscribed for sym (level2, level2_batch, level2_50), sorted.
func (s *Sim) CoinbaseBookChannels(sym market.Symbol) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ch := range coinbaseL2Channels {
		if s.subscribed(market.Coinbase, ch+":"+string(sym)) {
			out = append(out, ch)
		}
	}
	slices.Sort(out)
	return out
}

// coinbaseBookSnapshotOf returns the level2 snapshot of in. s.mu is held.
func (s *Sim) coinbaseBookSnapshotOf(in *instrument) []byte {
	if in.book == nil {
		in.book = newSimBook(in, s.cfg.Seed)
	}
	rows := func(levels []market.Level) [][2]string {
		out := make([][2]string, len(levels))
		for i, l := range levels {
			out[i] = [2]string{dec(l.Price), dec(l.Size)}
		}
		return out
	}
	return encode(coinbaseBookSnapshot{Type: "snapshot", ProductID: in.native,
		Bids: rows(in.book.levels(in, true, 0)), Asks: rows(in.book.levels(in, false, 0))})
}

func (s *Sim) coinbaseL2Update(in *instrument, changes []bookChange) {
	var frame []byte
	for _, ch := range coinbaseL2Channels {
		topic := ch + ":" + in.native
		if !s.subscribed(market.Coinbase, topic) {
			continue
		}
		if frame == nil {
			u := coinbaseL2Update{Type: "l2update", ProductID: in.native, Changes: [][3]string{}, Time: in.book.time.Format(coinbaseTimeWS)}
			for _, c := range changes {
				side := "sell"
				if c.bid {
					side = "buy"
				}
				u.Changes = append(u.Changes, [3]string{side, priceText(in, c.price), sizeText(in, c.size)})
			}
			frame = encode(u)
		}
		s.fanout(market.Coinbase, topic, frame)
	}
}

// coinbaseRESTBook is GET /products/{id}/book: levels are
// [price, size, num-orders].
type coinbaseRESTBook struct {
	Bids        [][3]any `json:"bids"`
	Asks        [][3]any `json:"asks"`
	Sequence    int64    `json:"sequence"`
	AuctionMode bool     `json:"auction_mode"`
	Auction     any      `json:"auction"`
	Time        string   `json:"time"`
}

// coinbaseBookREST serves GET /products/{id}/book?level=1|2: level 1 (the
// default) is the best bid and ask, level 2 the whole aggregated book.
func (s *Sim) coinbaseBookREST(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.native[market.Coinbase][r.PathValue("id")]
	if in == nil {
		coinbaseFail(w, http.StatusNotFound, "NotFound")
		return
	}
	n := 1
	switch r.URL.Query().Get("level") {
	case "", "1":
	case "2":
		n = 0
	default:
		coinbaseFail(w, http.StatusBadRequest, "Invalid level")
		return
	}
	if in.book == nil {
		in.book = newSimBook(in, s.cfg.Seed)
	}
	rows := func(levels []market.Level) [][3]any {
		out := make([][3]any, len(levels))
		for i, l := range levels {
			out[i] = [3]any{dec(l.Price), dec(l.Size), 1 + l.Size.CoefficientInt64()%7}
		}
		return out
	}
	writeJSON(w, http.StatusOK, coinbaseRESTBook{Bids: rows(in.book.levels(in, true, n)), Asks: rows(in.book.levels(in, false, n)),
		Sequence: in.seq, Time: s.clock.Format(coinbaseTimeWS)})
}

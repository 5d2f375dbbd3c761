package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"marketetl/book"
	"marketetl/market"
)

// The tests decode the frames here with encoding/json, apply them with
// package book and compare the result with the simulator's own book.

func levelsOf(t *testing.T, rows [][]string) []market.Level {
	t.Helper()
	out := make([]market.Level, len(rows))
	for i, r := range rows {
		p, err1 := decimal.NewFromString(r[0])
		s, err2 := decimal.NewFromString(r[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("level %v: %v %v", r, err1, err2)
		}
		out[i] = market.Level{Price: p, Size: s}
	}
	return out
}

func changesOf(t *testing.T, bids, asks [][]string) []market.BookChange {
	t.Helper()
	var out []market.BookChange
	for _, l := range levelsOf(t, bids) {
		out = append(out, market.BookChange{Side: market.Bid, Price: l.Price, Size: l.Size})
	}
	for _, l := range levelsOf(t, asks) {
		out = append(out, market.BookChange{Side: market.Ask, Price: l.Price, Size: l.Size})
	}
	return out
}

// sameBook compares a local book, level for level and with the exact
// decimals, with the simulator's.
func sameBook(t *testing.T, s *Sim, ex market.Exchange, sym market.Symbol, b *book.Book) {
	t.Helper()
	wantBids, wantAsks, _, _, ok := s.Book(ex, sym)
	if !ok {
		t.Fatalf("no %s %s book", ex, sym)
	}
	bids, asks := b.Top(0, nil, nil)
	if got, want := levelsText(bids), levelsText(wantBids); got != want {
		t.Fatalf("bids\n%s\nwant\n%s", got, want)
	}
	if got, want := levelsText(asks), levelsText(wantAsks); got != want {
		t.Fatalf("asks\n%s\nwant\n%s", got, want)
	}
}

func levelsText(ls []market.Level) string {
	out := ""
	for _, l := range ls {
		out += dec(l.Price) + "x" + dec(l.Size) + " "
	}
	return out
}

type okxBookFrame struct {
	Action string `json:"action"`
	Data   []struct {
		Asks      [][]string `json:"asks"`
		Bids      [][]string `json:"bids"`
		Ts        string     `json:"ts"`
		Checksum  int64      `json:"checksum"`
		PrevSeqID int64      `json:"prevSeqId"`
		SeqID     int64      `json:"seqId"`
	} `json:"data"`
}

// okxBooks subscribes to OKX books for BTC-USDT, loads the snapshot and
// returns the client, the book and its sequence.
func okxBooks(t *testing.T, s *Sim, ep Endpoints) (*client, *book.Book, *book.OKXSequence) {
	t.Helper()
	c := dial(t, ep.OKXPublicWS)
	c.send(`{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`)
	var event string
	field(t, c.read(), "event", &event)
	if event != "subscribe" {
		t.Fatalf("ack event %q", event)
	}
	var f okxBookFrame
	if err := json.Unmarshal(c.read(), &f); err != nil || f.Action != "snapshot" || len(f.Data) != 1 {
		t.Fatalf("snapshot: %+v %v", f, err)
	}
	d := f.Data[0]
	b := book.New()
	if err := b.Load(levelsOf(t, d.Bids), levelsOf(t, d.Asks)); err != nil {
		t.Fatal(err)
	}
	if _, _, id, _, _ := s.Book(market.OKX, "BTC-USDT"); d.PrevSeqID != -1 || d.SeqID != id {
		t.Fatalf("snapshot prevSeqId %d seqId %d, want -1 and %d", d.PrevSeqID, d.SeqID, id)
	}
	sameBook(t, s, market.OKX, "BTC-USDT", b)
	if err := book.CheckOKX(b, d.Checksum); err != nil || d.Checksum == 0 {
		t.Fatalf("snapshot checksum %d: %v", d.Checksum, err)
	}
	var seq book.OKXSequence
	seq.Snapshot(d.SeqID)
	return c, b, &seq
}

// okxApply reads one update and applies it: sequence, changes, checksum.
func okxApply(t *testing.T, c *client, b *book.Book, seq *book.OKXSequence) error {
	t.Helper()
	var f okxBookFrame
	if err := json.Unmarshal(c.read(), &f); err != nil || f.Action != "update" {
		t.Fatalf("update: %+v %v", f, err)
	}
	d := f.Data[0]
	if err := seq.Update(d.PrevSeqID, d.SeqID); err != nil {
		return err
	}
	if err := b.Apply(changesOf(t, d.Bids, d.Asks)); err != nil {
		return err
	}
	b.Sequence = d.SeqID
	return book.CheckOKX(b, d.Checksum)
}

func TestOKXBooksReproduceTheBook(t *testing.T) {
	s, ep := start(t, Config{Seed: 7})
	step(t, s, 3)
	c, b, seq := okxBooks(t, s, ep)
	step(t, s, 50)
	for i := range 50 {
		if err := okxApply(t, c, b, seq); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	sameBook(t, s, market.OKX, "BTC-USDT", b)
	if _, _, id, _, _ := s.Book(market.OKX, "BTC-USDT"); b.Sequence != id {
		t.Errorf("sequence %d, the exchange's %d", b.Sequence, id)
	}

	s.SetOKXChecksumDeprecated(true)
	step(t, s, 5)
	for i := range 5 {
		if err := okxApply(t, c, b, seq); err != nil {
			t.Fatalf("update %d with checksum 0: %v", i, err)
		}
	}
	sameBook(t, s, market.OKX, "BTC-USDT", b)
}

func TestOKXBookFaults(t *testing.T) {
	tests := []struct {
		name   string
		inject func(s *Sim) error
		steps  int // updates read after the fault's
		want   error
	}{
		{"sequence break", func(s *Sim) error { return s.InjectBookSequenceBreak(market.OKX, "BTC-USDT") }, 1, book.ErrSequenceBreak},
		{"checksum mismatch", func(s *Sim) error { return s.InjectBookChecksumMismatch("BTC-USDT") }, 1, book.ErrChecksum},
		{"crossed update", func(s *Sim) error { return s.InjectCrossedBookUpdate(market.OKX, "BTC-USDT") }, 1, book.ErrCrossed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ep := start(t, Config{Seed: 3})
			c, b, seq := okxBooks(t, s, ep)
			step(t, s, 5)
			for range 5 {
				if err := okxApply(t, c, b, seq); err != nil {
					t.Fatal(err)
				}
			}
			if err := tt.inject(s); err != nil {
				t.Fatal(err)
			}
			step(t, s, 2)
			err := okxApply(t, c, b, seq)
			if !errors.Is(err, tt.want) {
				t.Fatalf("after the fault: %v, want %v", err, tt.want)
			}
			// A resubscription's snapshot is the exchange's book again.
			c2, b2, seq2 := okxBooks(t, s, ep)
			step(t, s, 3)
			for range 3 {
				if err := okxApply(t, c2, b2, seq2); err != nil {
					t.Fatal(err)
				}
			}
			sameBook(t, s, market.OKX, "BTC-USDT", b2)
		})
	}
	s, _ := start(t, Config{Seed: 3})
	if err := s.InjectBookChecksumMismatch("DOGE-USDT"); err == nil {
		t.Error("a fault on an unknown market was accepted")
	}
	if err := s.InjectDroppedBookChange("BTC-USDT"); err == nil {
		t.Error("a Coinbase fault on a market Coinbase lacks was accepted")
	}
}

type binanceDepthFrame struct {
	Stream string `json:"stream"`
	Data   struct {
		Event     string     `json:"e"`
		EventTime int64      `json:"E"`
		Symbol    string     `json:"s"`
		First     int64      `json:"U"`
		Last      int64      `json:"u"`
		Bids      [][]string `json:"b"`
		Asks      [][]string `json:"a"`
	} `json:"data"`
}

func (f *binanceDepthFrame) event(t *testing.T) book.DepthEvent {
	return book.DepthEvent{FirstID: f.Data.First, LastID: f.Data.Last, Changes: changesOf(t, f.Data.Bids, f.Data.Asks)}
}

// binanceDepthSnapshot fetches GET /api/v3/depth.
func binanceDepthSnapshot(t *testing.T, ep Endpoints, limit int) (int64, []market.Level, []market.Level) {
	t.Helper()
	status, _, body := get(t, fmt.Sprintf("%s/api/v3/depth?symbol=BTCUSDT&limit=%d", ep.BinanceREST, limit))
	var d struct {
		LastUpdateID int64      `json:"lastUpdateId"`
		Bids         [][]string `json:"bids"`
		Asks         [][]string `json:"asks"`
	}
	if err := json.Unmarshal(body, &d); status != 200 || err != nil {
		t.Fatalf("depth: %d %s %v", status, body, err)
	}
	return d.LastUpdateID, levelsOf(t, d.Bids), levelsOf(t, d.Asks)
}

func TestBinanceDepthReproducesTheBook(t *testing.T) {
	for _, fault := range []string{"none", "sequence break", "crossed update"} {
		t.Run(fault, func(t *testing.T) {
			s, ep := start(t, Config{Seed: 11})
			step(t, s, 2)
			c := dial(t, ep.BinanceWS+"/stream?streams=btcusdt@depth@100ms")
			if err := s.WaitSubscribed(ctx(t), market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeOrderBook}); err != nil {
				t.Fatal(err)
			}
			var sync book.BinanceSync
			b := book.New()
			read := func() (bool, error) {
				var f binanceDepthFrame
				if err := json.Unmarshal(c.read(), &f); err != nil || f.Stream != "btcusdt@depth@100ms" || f.Data.Event != "depthUpdate" {
					t.Fatalf("depth event: %+v %v", f, err)
				}
				ev := f.event(t)
				apply, err := sync.Event(ev)
				if err != nil || !apply {
					return apply, err
				}
				return true, b.Apply(ev.Changes)
			}
			// Buffer three events, take the snapshot, then join.
			step(t, s, 3)
			for range 3 {
				if apply, err := read(); apply || err != nil {
					t.Fatalf("before the snapshot: apply %v, %v", apply, err)
				}
			}
			id, bids, asks := binanceDepthSnapshot(t, ep, 5000)
			if _, _, n, _, _ := s.Book(market.Binance, "BTC-USDT"); id != n {
				t.Fatalf("lastUpdateId %d, book %d", id, n)
			}
			if err := b.Load(bids, asks); err != nil {
				t.Fatal(err)
			}
			evs, err := sync.Snapshot(id)
			if err != nil || len(evs) != 0 {
				t.Fatalf("join: %d events, %v (the snapshot is newer than the buffer)", len(evs), err)
			}
			step(t, s, 20)
			for i := range 20 {
				if apply, err := read(); !apply || err != nil {
					t.Fatalf("event %d: apply %v, %v", i, apply, err)
				}
			}
			sameBook(t, s, market.Binance, "BTC-USDT", b)
			switch fault {
			case "sequence break":
				if err := s.InjectBookSequenceBreak(market.Binance, "BTC-USDT"); err != nil {
					t.Fatal(err)
				}
				step(t, s, 2)
				if _, err := read(); !errors.Is(err, book.ErrSequenceBreak) {
					t.Fatalf("after a withheld event: %v", err)
				}
			case "crossed update":
				if err := s.InjectCrossedBookUpdate(market.Binance, "BTC-USDT"); err != nil {
					t.Fatal(err)
				}
				step(t, s, 1)
				if _, err := read(); !errors.Is(err, book.ErrCrossed) {
					t.Fatalf("after a crossed event: %v", err)
				}
			}
			all, _, _, _, _ := s.Book(market.Binance, "BTC-USDT")
			if n, _ := binanceDepthSnapshotLen(t, ep); n != min(100, len(all)) {
				t.Errorf("depth without limit: %d bids of %d, want the default 100", n, len(all))
			}
		})
	}
}

func binanceDepthSnapshotLen(t *testing.T, ep Endpoints) (int, int) {
	t.Helper()
	status, _, body := get(t, ep.BinanceREST+"/api/v3/depth?symbol=BTCUSDT")
	var d struct{ Bids, Asks [][]string }
	if err := json.Unmarshal(body, &d); status != 200 || err != nil {
		t.Fatalf("depth: %d %s %v", status, body, err)
	}
	return len(d.Bids), len(d.Asks)
}

type coinbaseBookFrame struct {
	Type    string     `json:"type"`
	Bids    [][]string `json:"bids"`
	Asks    [][]string `json:"asks"`
	Changes [][]string `json:"changes"`
	Time    string     `json:"time"`
}

func TestCoinbaseLevel2ReproducesTheBook(t *testing.T) {
	s, ep := start(t, Config{Seed: 5})
	step(t, s, 2)
	c := dial(t, ep.CoinbaseWS)
	c.send(`{"type":"subscribe","product_ids":["BTC-USD"],"channels":["level2_batch"]}`)
	c.expect(`{"type":"subscriptions","channels":[{"name":"level2_batch","product_ids":["BTC-USD"]}]}`)
	var snap coinbaseBookFrame
	if err := json.Unmarshal(c.read(), &snap); err != nil || snap.Type != "snapshot" {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
	b := book.New()
	if err := b.Load(levelsOf(t, snap.Bids), levelsOf(t, snap.Asks)); err != nil {
		t.Fatal(err)
	}
	apply := func() error {
		var f coinbaseBookFrame
		if err := json.Unmarshal(c.read(), &f); err != nil || f.Type != "l2update" {
			t.Fatalf("l2update %+v %v", f, err)
		}
		var changes []market.BookChange
		for _, ch := range f.Changes {
			sd := map[string]market.BookSide{"buy": market.Bid, "sell": market.Ask}[ch[0]]
			l := levelsOf(t, [][]string{ch[1:]})[0]
			changes = append(changes, market.BookChange{Side: sd, Price: l.Price, Size: l.Size})
		}
		return b.Apply(changes)
	}
	restBook := func() ([]market.Level, []market.Level) {
		status, _, body := get(t, ep.CoinbaseREST+"/products/BTC-USD/book?level=2")
		var r struct{ Bids, Asks [][]any }
		if err := json.Unmarshal(body, &r); status != 200 || err != nil {
			t.Fatalf("book: %d %s %v", status, body, err)
		}
		rows := func(in [][]any) (out [][]string) {
			for _, l := range in {
				out = append(out, []string{l[0].(string), l[1].(string)})
			}
			return out
		}
		return levelsOf(t, rows(r.Bids)), levelsOf(t, rows(r.Asks))
	}
	step(t, s, 30)
	for i := range 30 {
		if err := apply(); err != nil {
			t.Fatalf("l2update %d: %v", i, err)
		}
	}
	sameBook(t, s, market.Coinbase, "BTC-USD", b)
	bids, asks := restBook()
	if d := book.CompareREST(b, bids, asks, nil); d.Disagrees() || d.Compared != len(bids)+len(asks) {
		t.Fatalf("in step with the REST book: %+v", d)
	}

	if err := s.InjectDroppedBookChange("BTC-USD"); err != nil {
		t.Fatal(err)
	}
	step(t, s, 1)
	if err := apply(); err != nil {
		t.Fatal(err)
	}
	bids, asks = restBook()
	if d := book.CompareREST(b, bids, asks, nil); len(d.Mismatches) != 1 {
		t.Fatalf("after a dropped change: %+v, want one mismatch", d)
	}

	if err := s.InjectCrossedBookUpdate(market.Coinbase, "BTC-USD"); err != nil {
		t.Fatal(err)
	}
	step(t, s, 1)
	if err := apply(); !errors.Is(err, book.ErrCrossed) {
		t.Fatalf("after a crossed update: %v", err)
	}
}

package sim

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"marketetl/market"
)

// Kraken REST market data (PROTOCOLS.md §8.4): GET /0/public/OHLC and
// GET /0/public/Trades. Errors are HTTP 200 with Kraken's error strings;
// the result is keyed by the pair's REST id (XXBTZUSD), whatever name the
// request used.

// Kraken REST limits.
const (
	krakenMaxOHLC   = 720
	krakenMaxTrades = 1000
)

type krakenEnvelope struct {
	Error  []string       `json:"error"`
	Result map[string]any `json:"result,omitempty"`
}

// krakenAsset returns Kraken's own code of a common asset code.
func krakenAsset(a string) string {
	switch a {
	case "BTC":
		return "XBT"
	case "DOGE":
		return "XDG"
	}
	return a
}

// krakenPair finds the instrument a REST pair names: the altname
// (XBTUSD), the REST id (XXBTZUSD) or the WebSocket name (BTC/USD). s.mu
// is held.
func (s *Sim) krakenPair(pair string) (*instrument, string) {
	for _, in := range s.instruments[market.Kraken] {
		base, quote := krakenAsset(in.sym.Base()), krakenAsset(in.sym.Quote())
		id := "X" + base + "Z" + quote
		if pair == base+quote || pair == id || pair == in.native {
			return in, id
		}
	}
	return nil, ""
}

func krakenFail(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusOK, krakenEnvelope{Error: []string{msg}})
}

// krakenOHLC serves /0/public/OHLC: rows [time, "open", "high", "low",
// "close", "vwap", "volume", count], oldest first, of the 720 most recent
// candles (the last one forming), those opening after since; last is the
// open time of the last closed one.
func (s *Sim) krakenOHLC(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	in, id := s.krakenPair(q.Get("pair"))
	if in == nil {
		krakenFail(w, "EQuery:Unknown asset pair")
		return
	}
	interval := q.Get("interval")
	if interval == "" {
		interval = "1"
	}
	sr := in.byName[interval]
	if sr == nil {
		krakenFail(w, "EGeneral:Invalid arguments")
		return
	}
	var since int64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			krakenFail(w, "EGeneral:Invalid arguments")
			return
		}
		since = n
	}
	all := s.servedCandles(market.Kraken, sr.all())
	if len(all) > krakenMaxOHLC {
		all = all[len(all)-krakenMaxOHLC:]
	}
	lo := sort.Search(len(all), func(i int) bool { return all[i].open.Unix() > since })
	rows := make([][8]any, 0, len(all)-lo)
	for i := lo; i < len(all); i++ {
		c := &all[i]
		rows = append(rows, [8]any{c.open.Unix(), dec(c.o), dec(c.h), dec(c.l), dec(c.c), string(vwap(c.quote, c.vol)), dec(c.vol), c.n})
	}
	var last int64
	if n := len(sr.closed); n > 0 {
		last = sr.closed[n-1].open.Unix()
	}
	writeJSON(w, http.StatusOK, krakenEnvelope{Error: []string{}, Result: map[string]any{id: rows, "last": last}})
}

// krakenTrades serves /0/public/Trades: up to count (at most 1000) trades
// executed after since (Unix nanoseconds, exclusive), oldest first, rows
// [price, volume, time, "b"/"s", "m"/"l", "", trade_id]; last is the time
// of the last trade served in nanoseconds, as a string.
func (s *Sim) krakenTrades(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	in, id := s.krakenPair(q.Get("pair"))
	if in == nil {
		krakenFail(w, "EQuery:Unknown asset pair")
		return
	}
	var since int64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			krakenFail(w, "EGeneral:Invalid arguments")
			return
		}
		// A since in seconds (the older form) is taken as such.
		if n < 1e12 {
			n *= int64(time.Second)
		}
		since = n
	}
	count := krakenMaxTrades
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			krakenFail(w, "EGeneral:Invalid arguments")
			return
		}
		count = min(n, krakenMaxTrades)
	}
	trades := s.servedTrades(in)
	lo := sort.Search(len(trades), func(i int) bool { return trades[i].time.UnixNano() > since })
	hi := min(len(trades), lo+count)
	rows := make([][7]any, 0, hi-lo)
	last := since
	for i := lo; i < hi; i++ {
		tr := &trades[i]
		side, ord := "s", "l"
		if tr.side == market.Buy {
			side = "b"
		}
		if tr.id%3 == 0 {
			ord = "m"
		}
		rows = append(rows, [7]any{dec(tr.price), dec(tr.size), json.Number(unixSecondsText(tr.time)), side, ord, "", tr.id})
		last = tr.time.UnixNano()
	}
	writeJSON(w, http.StatusOK, krakenEnvelope{Error: []string{}, Result: map[string]any{id: rows, "last": strconv.FormatInt(last, 10)}})
}

// unixSecondsText writes t as seconds with its fraction (1688669597.827).
func unixSecondsText(t time.Time) string {
	s := strconv.FormatInt(t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(int64(ns)+1e9, 10)[1:], "0")
	}
	return s
}

package sim

import (
	"net/http"
	"sort"
	"strconv"

	"marketetl/market"
)

// Binance spot REST market data (rest-api.md): klines and trades in
// ascending order, errors as {"code":-1121,"msg":"Invalid symbol."} with
// HTTP 400.

// Binance REST limits.
const (
	binanceDefaultLimit = 500
	binanceMaxLimit     = 1000
)

type binanceRESTTrade struct {
	ID           int64  `json:"id"`
	Price        string `json:"price"`
	Qty          string `json:"qty"`
	QuoteQty     string `json:"quoteQty"`
	Time         int64  `json:"time"`
	IsBuyerMaker bool   `json:"isBuyerMaker"`
	IsBestMatch  bool   `json:"isBestMatch"`
}

type binanceRESTAggTrade struct {
	AggID int64  `json:"a"`
	Price string `json:"p"`
	Qty   string `json:"q"`
	First int64  `json:"f"`
	Last  int64  `json:"l"`
	Time  int64  `json:"T"`
	Maker bool   `json:"m"`
	Best  bool   `json:"M"`
}

func binanceFail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, http.StatusBadRequest, binanceErrorBody{Code: code, Msg: msg})
}

// binanceQuery holds the parsed parameters of a Binance REST request.
type binanceQuery struct {
	in    *instrument
	limit int
	// ints holds the optional integer parameters that were sent.
	ints map[string]int64
}

// binanceParse reads symbol, limit and the integer parameters named in
// ints; it writes the error response and returns false when they are wrong.
func (s *Sim) binanceParse(w http.ResponseWriter, r *http.Request, ints ...string) (binanceQuery, bool) {
	q := r.URL.Query()
	sym := q.Get("symbol")
	if sym == "" {
		binanceFail(w, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
		return binanceQuery{}, false
	}
	out := binanceQuery{limit: binanceDefaultLimit, ints: make(map[string]int64)}
	for _, name := range append([]string{"limit"}, ints...) {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			binanceFail(w, -1100, "Illegal characters found in parameter '"+name+"'; legal range is '^[0-9]{1,20}$'.")
			return binanceQuery{}, false
		}
		out.ints[name] = n
	}
	if n, ok := out.ints["limit"]; ok {
		if n < 1 {
			binanceFail(w, -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
			return binanceQuery{}, false
		}
		out.limit = int(min(n, binanceMaxLimit))
	}
	out.in = s.native[market.Binance][sym]
	if out.in == nil {
		binanceFail(w, -1121, "Invalid symbol.")
		return binanceQuery{}, false
	}
	return out, true
}

// binanceKlines serves /api/v3/klines.
func (s *Sim) binanceKlines(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.binanceParse(w, r, "startTime", "endTime")
	if !ok {
		return
	}
	iv := r.URL.Query().Get("interval")
	if iv == "" {
		binanceFail(w, -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
		return
	}
	sr := q.in.byName[iv]
	if sr == nil {
		binanceFail(w, -1120, "Invalid interval.")
		return
	}
	all := s.servedCandles(market.Binance, sr.all())
	start, hasStart := q.ints["startTime"]
	end, hasEnd := q.ints["endTime"]
	lo, hi := 0, len(all)
	if hasStart {
		lo = sort.Search(len(all), func(i int) bool { return ms(all[i].open) >= start })
	}
	if hasEnd {
		hi = sort.Search(len(all), func(i int) bool { return ms(all[i].open) > end })
	}
	if hi < lo {
		hi = lo
	}
	if hasStart {
		hi = min(hi, lo+q.limit)
	} else {
		lo = max(lo, hi-q.limit)
	}
	rows := make([][12]any, 0, hi-lo)
	for i := lo; i < hi; i++ {
		c := &all[i]
		rows = append(rows, [12]any{ms(c.open), dec(c.o), dec(c.h), dec(c.l), dec(c.c), dec(c.vol),
			ms(sr.frame.closeTime(c.open)), dec(c.quote), c.n, dec(c.buyVol), dec(c.buyQte), "0"})
	}
	writeJSON(w, http.StatusOK, rows)
}

// binanceTrades serves /api/v3/trades (the latest trades) and, with
// history, /api/v3/historicalTrades (from fromId, inclusive).
func (s *Sim) binanceTrades(history bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		q, ok := s.binanceParse(w, r, "fromId")
		if !ok {
			return
		}
		trades := s.servedTrades(q.in)
		lo, hi := max(0, len(trades)-q.limit), len(trades)
		if from, ok := q.ints["fromId"]; ok && history {
			lo = sort.Search(len(trades), func(i int) bool { return trades[i].id >= from })
			hi = min(len(trades), lo+q.limit)
		}
		out := make([]binanceRESTTrade, 0, hi-lo)
		for i := lo; i < hi; i++ {
			tr := &trades[i]
			out = append(out, binanceRESTTrade{ID: tr.id, Price: dec(tr.price), Qty: dec(tr.size),
				QuoteQty: dec(tr.quote), Time: ms(tr.time), IsBuyerMaker: tr.side == market.Sell, IsBestMatch: true})
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// binanceAggTrades serves /api/v3/aggTrades: every trade is its own
// aggregate, with the trade's id as aggregate id.
func (s *Sim) binanceAggTrades(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.binanceParse(w, r, "fromId", "startTime", "endTime")
	if !ok {
		return
	}
	trades := s.servedTrades(q.in)
	lo, hi := max(0, len(trades)-q.limit), len(trades)
	from, hasFrom := q.ints["fromId"]
	start, hasStart := q.ints["startTime"]
	end, hasEnd := q.ints["endTime"]
	switch {
	case hasFrom:
		lo = sort.Search(len(trades), func(i int) bool { return trades[i].id >= from })
		hi = min(len(trades), lo+q.limit)
	case hasStart || hasEnd:
		lo, hi = 0, len(trades)
		if hasStart {
			lo = sort.Search(len(trades), func(i int) bool { return ms(trades[i].time) >= start })
		}
		if hasEnd {
			hi = sort.Search(len(trades), func(i int) bool { return ms(trades[i].time) > end })
		}
		hi = max(lo, min(hi, lo+q.limit))
	}
	out := make([]binanceRESTAggTrade, 0, hi-lo)
	for i := lo; i < hi; i++ {
		tr := &trades[i]
		out = append(out, binanceRESTAggTrade{AggID: tr.id, Price: dec(tr.price), Qty: dec(tr.size), First: tr.id, Last: tr.id,
			Time: ms(tr.time), Maker: tr.side == market.Sell, Best: true})
	}
	writeJSON(w, http.StatusOK, out)
}

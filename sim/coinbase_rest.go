package sim

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"

	"marketetl/market"
)

// Coinbase Exchange REST market data (get-product-candles,
// get-product-trades, pagination).

// coinbaseGranularities maps the timeframes Coinbase serves to their
// granularity in seconds.
var coinbaseGranularities = map[market.Timeframe]string{
	market.TF1m: "60", market.TF5m: "300", market.TF15m: "900",
	market.TF1h: "3600", market.TF6h: "21600", market.TF1d: "86400",
}

// Coinbase REST limits.
const (
	coinbaseMaxBuckets = 300
	coinbaseMaxTrades  = 1000
)

type coinbaseMessage struct {
	Message string `json:"message"`
}

type coinbaseRESTTrade struct {
	Time    string `json:"time"`
	TradeID int64  `json:"trade_id"`
	Price   string `json:"price"`
	Size    string `json:"size"`
	Side    string `json:"side"`
}

func coinbaseFail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, coinbaseMessage{Message: msg})
}

// coinbaseTime parses a start or end parameter: RFC 3339 or Unix seconds.
func coinbaseTime(v string) (time.Time, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// coinbaseCandles serves /products/{id}/candles: rows [time, low, high,
// open, close, volume] as JSON numbers, newest first, for the buckets
// from start to end inclusive. Without both start and end it serves the
// latest 300 buckets up to the exchange's now.
func (s *Sim) coinbaseCandles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.native[market.Coinbase][r.PathValue("id")]
	if in == nil {
		coinbaseFail(w, http.StatusNotFound, "NotFound")
		return
	}
	q := r.URL.Query()
	g := q.Get("granularity")
	if g == "" {
		g = "60"
	}
	sr := in.byName[g]
	if sr == nil {
		coinbaseFail(w, http.StatusBadRequest, "Unsupported granularity")
		return
	}
	end := s.clock
	start := end.Add(-coinbaseMaxBuckets * sr.frame.d)
	if qs, qe := q.Get("start"), q.Get("end"); qs != "" && qe != "" {
		var ok1, ok2 bool
		start, ok1 = coinbaseTime(qs)
		end, ok2 = coinbaseTime(qe)
		if !ok1 || !ok2 {
			coinbaseFail(w, http.StatusBadRequest, "Invalid start or end time")
			return
		}
		if end.Before(start) {
			coinbaseFail(w, http.StatusBadRequest, "start must be before end")
			return
		}
		if end.Sub(start)/sr.frame.d > coinbaseMaxBuckets {
			coinbaseFail(w, http.StatusBadRequest, "granularity too small for the requested time range. Count of aggregations requested exceeds 300")
			return
		}
	}
	all := s.servedCandles(market.Coinbase, sr.all())
	lo := sort.Search(len(all), func(i int) bool { return !all[i].open.Before(sr.frame.bucket(start)) })
	hi := sort.Search(len(all), func(i int) bool { return all[i].open.After(end) })
	rows := make([][6]json.Number, 0, max(0, hi-lo))
	for i := hi - 1; i >= lo; i-- {
		c := &all[i]
		rows = append(rows, [6]json.Number{json.Number(itoa(c.open.Unix())), json.Number(dec(c.l)), json.Number(dec(c.h)),
			json.Number(dec(c.o)), json.Number(dec(c.c)), json.Number(dec(c.vol))})
	}
	writeJSON(w, http.StatusOK, rows)
}

// coinbaseTrades serves /products/{id}/trades: latest first; after=N
// pages to older trades (ids below N), before=N to newer ones (ids above
// N, the page adjacent to N). CB-BEFORE and CB-AFTER carry the newest and
// oldest ids of the page.
func (s *Sim) coinbaseTrades(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.native[market.Coinbase][r.PathValue("id")]
	if in == nil {
		coinbaseFail(w, http.StatusNotFound, "NotFound")
		return
	}
	q := r.URL.Query()
	limit := coinbaseMaxTrades
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			coinbaseFail(w, http.StatusBadRequest, "Invalid limit")
			return
		}
		limit = min(n, coinbaseMaxTrades)
	}
	var cursors [2]int64
	for i, name := range []string{"before", "after"} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				coinbaseFail(w, http.StatusBadRequest, "Invalid "+name+" cursor")
				return
			}
			cursors[i] = n
		}
	}
	before, after := cursors[0], cursors[1]
	trades := s.servedTrades(in)
	lo, hi := 0, len(trades)
	if after != 0 {
		hi = sort.Search(len(trades), func(i int) bool { return trades[i].id >= after })
	}
	if before != 0 {
		lo = sort.Search(len(trades), func(i int) bool { return trades[i].id > before })
	}
	if hi < lo {
		hi = lo
	}
	if before != 0 && after == 0 {
		hi = min(hi, lo+limit)
	} else {
		lo = max(lo, hi-limit)
	}
	out := make([]coinbaseRESTTrade, 0, hi-lo)
	for i := hi - 1; i >= lo; i-- {
		tr := &trades[i]
		out = append(out, coinbaseRESTTrade{Time: tr.time.Format(coinbaseTimeREST), TradeID: tr.id,
			Price: dec(tr.price), Size: dec(tr.size), Side: string(tr.side.Opposite())})
	}
	if len(out) > 0 {
		w.Header().Set("CB-BEFORE", itoa(out[0].TradeID))
		w.Header().Set("CB-AFTER", itoa(out[len(out)-1].TradeID))
	}
	writeJSON(w, http.StatusOK, out)
}

package sim

import (
	"net/http"
	"sort"
	"strconv"

	"marketetl/market"
)

// OKX REST market data (PROTOCOLS.md §1 "REST"): JSON envelopes with
// every number as text, newest first.

// okxResponse is the REST envelope.
type okxResponse struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
	Data any    `json:"data"`
}

// okxRESTTrade is one trade of /market/trades and /market/history-trades,
// fields in the documented order.
type okxRESTTrade struct {
	InstID  string `json:"instId"`
	Side    string `json:"side"`
	Sz      string `json:"sz"`
	Source  string `json:"source"`
	Px      string `json:"px"`
	TradeID string `json:"tradeId"`
	Ts      string `json:"ts"`
}

// OKX REST limits.
const (
	okxCandlesLatest     = 1440
	okxCandleLimit       = 300
	okxHistoryCandleMax  = 100 // history-candles takes at most 100
	okxCandleDefault     = 100
	okxTradesLimit       = 500
	okxHistoryTradeLimit = 100
)

func okxError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, okxResponse{Code: code, Msg: msg, Data: []any{}})
}

// okxQuery reads the parameters common to the OKX REST endpoints. It
// writes the error response and returns false when they are wrong.
type okxQuery struct {
	in            *instrument
	after, before int64 // 0 when absent
	limit         int
}

func (s *Sim) okxParse(w http.ResponseWriter, r *http.Request, defLimit, maxLimit int) (okxQuery, bool) {
	q := r.URL.Query()
	id := q.Get("instId")
	if id == "" {
		okxError(w, http.StatusBadRequest, "50014", "Parameter instId can not be empty.")
		return okxQuery{}, false
	}
	var out okxQuery
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"after", &out.after}, {"before", &out.before}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				okxError(w, http.StatusBadRequest, "51000", "Parameter "+p.name+" error")
				return okxQuery{}, false
			}
			*p.dst = n
		}
	}
	out.limit = defLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			okxError(w, http.StatusBadRequest, "51000", "Parameter limit error")
			return okxQuery{}, false
		}
		out.limit = min(n, maxLimit)
	}
	out.in = s.native[market.OKX][id]
	if out.in == nil {
		okxError(w, http.StatusOK, "51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist.")
		return okxQuery{}, false
	}
	return out, true
}

// okxCandles serves /api/v5/market/candles (latest 1440 entries, the
// forming candle included) and, with history, /market/history-candles.
func (s *Sim) okxCandles(history bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		limit := okxCandleLimit
		if history {
			limit = okxHistoryCandleMax
		}
		q, ok := s.okxParse(w, r, okxCandleDefault, limit)
		if !ok {
			return
		}
		bar := r.URL.Query().Get("bar")
		if bar == "" {
			bar = "1m"
		}
		sr := q.in.byName[bar]
		if sr == nil {
			okxError(w, http.StatusBadRequest, "51000", "Parameter bar error")
			return
		}
		all := s.servedCandles(market.OKX, sr.all())
		if !history && len(all) > okxCandlesLatest {
			all = all[len(all)-okxCandlesLatest:]
		}
		lo, hi := 0, len(all)
		if q.before > 0 {
			lo = sort.Search(len(all), func(i int) bool { return ms(all[i].open) > q.before })
		}
		if q.after > 0 {
			hi = sort.Search(len(all), func(i int) bool { return ms(all[i].open) >= q.after })
		}
		rows := make([][9]string, 0, q.limit)
		for i := hi - 1; i >= lo && len(rows) < q.limit; i-- {
			rows = append(rows, okxCandleRow(&all[i], !sr.has || i < len(all)-1))
		}
		writeJSON(w, http.StatusOK, okxResponse{Code: "0", Msg: "", Data: rows})
	}
}

// okxTrades serves /api/v5/market/trades (the latest trades) and, with
// history, /market/history-trades (type 1: after/before are trade ids,
// type 2: after is a timestamp).
func (s *Sim) okxTrades(history bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		def, limit := okxCandleDefault, okxTradesLimit
		if history {
			def, limit = okxHistoryTradeLimit, okxHistoryTradeLimit
		}
		q, ok := s.okxParse(w, r, def, limit)
		if !ok {
			return
		}
		trades := s.servedTrades(q.in)
		lo, hi := 0, len(trades)
		if history {
			switch r.URL.Query().Get("type") {
			case "", "1":
				if q.before > 0 {
					lo = sort.Search(len(trades), func(i int) bool { return trades[i].id > q.before })
				}
				if q.after > 0 {
					hi = sort.Search(len(trades), func(i int) bool { return trades[i].id >= q.after })
				}
			case "2":
				if r.URL.Query().Has("before") {
					// error-code-rest-api-public: 50039, HTTP 200.
					okxError(w, http.StatusOK, "50039", `Parameter "before" isn't supported for timestamp pagination`)
					return
				}
				if q.after > 0 {
					hi = sort.Search(len(trades), func(i int) bool { return ms(trades[i].time) >= q.after })
				}
			default:
				okxError(w, http.StatusBadRequest, "51000", "Parameter type error")
				return
			}
		}
		out := make([]okxRESTTrade, 0, q.limit)
		for i := hi - 1; i >= lo && len(out) < q.limit; i-- {
			tr := &trades[i]
			out = append(out, okxRESTTrade{InstID: q.in.native, Side: string(tr.side), Sz: dec(tr.size), Source: "0",
				Px: dec(tr.price), TradeID: itoa(tr.id), Ts: msText(tr.time)})
		}
		writeJSON(w, http.StatusOK, okxResponse{Code: "0", Msg: "", Data: out})
	}
}

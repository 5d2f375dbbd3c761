package sim

import (
	"net/http"
	"strconv"
	"time"

	"marketetl/market"
)

// REST outages and bans, beside ThrottleREST: the exchange's REST API
// failing as a whole (SetRESTDown) and Binance's IP ban (BanREST).

// RESTOutage is how the REST API of an exchange fails (SetRESTDown).
type RESTOutage int

// The REST outages.
const (
	// RESTUp serves requests.
	RESTUp RESTOutage = iota
	// RESTUnavailable answers every request with HTTP 503 and a plain
	// text body, as a load balancer in front of an API that is down.
	RESTUnavailable
	// RESTReset closes the TCP connection of every request without an
	// answer, as a server that went away.
	RESTReset
)

// SetRESTDown makes every REST request of ex fail as o says until it is
// called again with RESTUp. The requests are recorded (RESTRequests) with
// Failed set; WebSocket connections are not affected.
func (s *Sim) SetRESTDown(ex market.Exchange, o RESTOutage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(ex).down = o
}

// BanREST bans the client's IP from the REST API of ex for d from now, as
// Binance does (rest-api.md, "LIMITS"): every request until the ban ends
// is answered HTTP 418 with Retry-After, the whole seconds until its end,
// and Binance's body {"code":-1003,"msg":"Way too much request weight used;
// IP banned until <ms>. Please use the websocket for live updates to avoid
// bans."} (other exchanges answer their 429 body: they have no ban
// status). The requests are recorded with Banned set.
func (s *Sim) BanREST(ex market.Exchange, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault(ex)
	f.banUntil = s.cfg.Now().Add(d)
}

// restOutage answers r when ex's REST API is down or bans the client, and
// reports whether it did. s.mu is held, and released when it returns true.
func (s *Sim) restOutage(w http.ResponseWriter, r *http.Request, ex market.Exchange, f *restFault) bool {
	now := s.cfg.Now()
	banned := now.Before(f.banUntil)
	if f.down == RESTUp && !banned {
		return false
	}
	down, until := f.down, f.banUntil
	f.requests = append(f.requests, RESTRequest{Path: r.URL.Path, At: now, Banned: banned && down == RESTUp, Failed: down != RESTUp})
	s.mu.Unlock()
	switch down {
	case RESTUnavailable:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("503 Service Temporarily Unavailable\n"))
		return true
	case RESTReset:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return true
			}
		}
		w.WriteHeader(http.StatusBadGateway)
		return true
	}
	secs := int64((until.Sub(now) + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	if ex == market.Binance {
		writeJSON(w, http.StatusTeapot, binanceErrorBody{Code: -1003,
			Msg: "Way too much request weight used; IP banned until " + strconv.FormatInt(until.UnixMilli(), 10) +
				". Please use the websocket for live updates to avoid bans."})
		return true
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "Public rate limit exceeded"})
	return true
}

package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/sim"
)

// getText returns the body of GET url ("" and the error when it fails).
func getText(url string) (string, error) {
	resp, err := http.Get(url) //nolint:noctx // a test's short poll
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// apiStatus is the part of GET /api/status the scenario reads.
type apiStatus struct {
	Collectors map[string]struct {
		Health struct {
			IsHealthy bool     `json:"is_healthy"`
			Issues    []string `json:"issues"`
		} `json:"health"`
		Statistics struct {
			Restarts      uint64  `json:"restarts"`
			Reconnects    uint64  `json:"reconnects"`
			UptimeSeconds float64 `json:"uptime_seconds"`
		} `json:"statistics"`
		Streams map[string]struct {
			DataType       string `json:"data_type"`
			Symbol         string `json:"symbol"`
			Subscribed     bool   `json:"subscribed"`
			State          string `json:"state"`
			RefusedCode    string `json:"refused_code"`
			RefusedMessage string `json:"refused_message"`
		} `json:"streams"`
	} `json:"collectors"`
}

// metricValue returns the value of the sample line of /metrics that starts
// with series (name and labels in the exposition's order) and whether
// there is one.
func metricValue(metrics, series string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v, true
		}
	}
	return "", false
}

// Scenario 26: OKX, Coinbase and Kraken each refuse the subscription of
// one of a collector's two symbols, with their documented refusal frame
// (OKX 60018, Coinbase "Failed to subscribe … is not a valid product",
// Kraken "Currency pair not supported"), while Binance, which has no such
// frame, accepts everything. `etl run` is the service: the other symbol
// of each collector and the other collectors store every trade, value for
// value; the refused stream is marked refused in GET /api/status with the
// exchange's code and message; etl_protocol_anomalies_total{exchange,
// kind="subscription_refused"} is 1 for each of the three exchanges; each
// collector logs one line for the kind; and nothing reconnects or
// restarts — with a maximum silence of 1 s, each collector runs three
// times that without its refused stream making it stale.
func TestSubscriptionRefusedForOneSymbol(t *testing.T) {
	s := newScenario(t, 26)
	refusing := []market.Exchange{market.OKX, market.Coinbase, market.Kraken}
	bin := buildETL(t)
	refused := map[market.Exchange]market.Symbol{}
	r, dbURL, ep := externalRig(t, 26, func(sm *sim.Sim) {
		for _, ex := range refusing {
			refused[ex] = sm.Symbols(ex)[1]
			if err := sm.RefuseSymbol(ex, refused[ex], true); err != nil {
				t.Fatal(err)
			}
		}
	})
	exs, sm := r.opts.exchanges, r.sim

	dir := t.TempDir()
	var yaml strings.Builder
	yaml.WriteString("collectors:\n")
	for _, ex := range exs {
		var syms []string
		for _, sym := range sm.Symbols(ex) {
			syms = append(syms, string(sym))
			if sym != refused[ex] {
				r.streams = append(r.streams, market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade})
			}
		}
		fmt.Fprintf(&yaml, "  - name: %s-refused\n    exchange: %s\n    symbols: [%s]\n    data_types: [trade]\n", ex, ex, strings.Join(syms, ", "))
	}
	cfgPath := filepath.Join(dir, "collectors.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freeAddr(t)
	env := append(os.Environ(),
		"DATABASE_URL="+dbURL, "REDIS_URL="+dbtest.RedisURL(), "REDIS_CHANNEL_PREFIX="+dbtest.Unique("faults"),
		"ETL_CONFIG="+cfgPath, "ETL_ADMIN_ADDR="+admin, "LOG_LEVEL=warn", "LOG_FORMAT=json",
		"STORE_FLUSH_INTERVAL=20ms", "RECONNECT_DELAY=100ms", "RECONNECT_DELAY_MAX=1s",
		"MAX_SILENCE_DURATION=1s", "DEFAULT_HEALTH_CHECK_INTERVAL=100ms", "GLOBAL_HEALTH_CHECK_INTERVAL=100ms",
		"OKX_WS_PUBLIC_URL="+ep.OKXPublicWS, "OKX_WS_BUSINESS_URL="+ep.OKXBusinessWS, "OKX_REST_URL="+ep.OKXREST,
		"BINANCE_WS_URL="+ep.BinanceWS, "BINANCE_REST_URL="+ep.BinanceREST,
		"COINBASE_WS_URL="+ep.CoinbaseWS, "COINBASE_REST_URL="+ep.CoinbaseREST,
		"KRAKEN_WS_URL="+ep.KrakenWS, "KRAKEN_REST_URL="+ep.KrakenREST,
	)
	p := startETL(t, bin, env)
	// The exchange trades in each market from its subscription on (in the
	// refused ones throughout): the supervisor judges a stream's silence
	// from the collector's start, so a stream left without trades until
	// every other is subscribed would be stale after MAX_SILENCE_DURATION,
	// on a loaded machine as soon as the four collectors take longer than
	// that to subscribe.
	var refusedStreams []market.Stream
	for ex, sym := range refused {
		refusedStreams = append(refusedStreams, market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade})
	}
	stop := r.subscribedStepper(10*time.Millisecond, r.streams, refusedStreams...)
	r.waitSubscribed()
	connects := map[market.Exchange]int64{}
	for _, ex := range exs {
		connects[ex] = sm.Counts(ex).Connects
	}
	start := time.Now()

	// Each refused stream is marked in the status, with the exchange's
	// code and message, and each collector runs three maximum silences
	// without a restart or a redial.
	const minUptime = 3.0 // seconds: three MAX_SILENCE_DURATION
	var st apiStatus
	eventually(t, "the refused streams in /api/status and every collector up for 3 s", func() (bool, string) {
		body, err := getText("http://" + admin + "/api/status")
		if err != nil {
			return false, err.Error()
		}
		st = apiStatus{}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			return false, err.Error()
		}
		ok, state := len(st.Collectors) == len(exs), ""
		for _, ex := range exs {
			c := st.Collectors[string(ex)+"-refused"]
			ok = ok && c.Statistics.UptimeSeconds >= minUptime
			state += fmt.Sprintf("%s up %.1fs restarts %d; ", ex, c.Statistics.UptimeSeconds, c.Statistics.Restarts)
			if sym, ok2 := refused[ex]; ok2 {
				ss := c.Streams[market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade}.String()]
				ok = ok && ss.State == "refused"
			}
		}
		return ok, state
	})
	metrics, err := getText("http://" + admin + "/metrics")
	stop()
	if err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	for _, ex := range exs {
		name := string(ex) + "-refused"
		c := st.Collectors[name]
		if c.Statistics.Restarts != 0 || c.Statistics.Reconnects != 0 {
			t.Errorf("%s: %d restarts and %d reconnects", name, c.Statistics.Restarts, c.Statistics.Reconnects)
		}
		if n := sm.Counts(ex).Connects; n != connects[ex] {
			t.Errorf("%s: %d connections to the exchange in %v, %d when subscribed: a reconnect", ex, n, up, connects[ex])
		}
		var got []string
		for _, ss := range c.Streams {
			got = append(got, fmt.Sprintf("%s %s subscribed=%v %s %s", ss.Symbol, ss.DataType, ss.Subscribed, ss.State, ss.RefusedCode))
		}
		sort.Strings(got)
		var want []string
		for _, sym := range sm.Symbols(ex) {
			if sym == refused[ex] {
				code := ""
				if ex == market.OKX {
					code = "60018"
				}
				want = append(want, fmt.Sprintf("%s trade subscribed=false refused %s", sym, code))
				continue
			}
			want = append(want, fmt.Sprintf("%s trade subscribed=true  ", sym))
		}
		diff(t, name+" streams in /api/status (symbol type subscribed state code)", want, got)
		for _, ss := range c.Streams {
			if ss.State == "refused" && ss.RefusedMessage == "" {
				t.Errorf("%s: refused stream %s without the exchange's message", name, ss.Symbol)
			}
		}
		wantAnomalies := "0"
		if _, ok := refused[ex]; ok {
			wantAnomalies = "1"
		}
		series := fmt.Sprintf(`etl_protocol_anomalies_total{exchange=%q,kind=%q}`, ex, collector.AnomalySubscriptionRefused)
		if v, _ := metricValue(metrics, series); v != wantAnomalies {
			t.Errorf("%s = %q, want %s", series, v, wantAnomalies)
		}
	}

	// The trades of every stream that was not refused are stored, value
	// for value; none of a refused one.
	eventually(t, "every trade of the streams not refused stored", func() (bool, string) {
		ok, state := true, ""
		for _, st := range r.streams {
			want := len(sm.Trades(st.Exchange, st.Symbol))
			n := r.queryInt(`SELECT count(*) FROM trades WHERE exchange = $1 AND symbol = $2`, string(st.Exchange), string(st.Symbol))
			ok = ok && n == want
			state += fmt.Sprintf("%s %d/%d; ", st, n, want)
		}
		return ok, state
	})
	published, stored := 0, 0
	for _, st := range r.streams {
		published += len(sm.Trades(st.Exchange, st.Symbol))
		stored += r.queryInt(`SELECT count(*) FROM trades WHERE exchange = $1 AND symbol = $2`, string(st.Exchange), string(st.Symbol))
		r.verifyTrades(st.Exchange, st.Symbol)
	}
	for ex, sym := range refused {
		if n := r.queryInt(`SELECT count(*) FROM trades WHERE exchange = $1 AND symbol = $2`, string(ex), string(sym)); n != 0 {
			t.Errorf("%s %s: %d trades stored of a refused stream", ex, sym, n)
		}
	}
	s.res.Published, s.res.Stored = published, stored
	s.res.Duplicates = r.duplicates()
	s.res.GapsOpen = r.gapsOpen()
	if s.res.Duplicates != 0 || s.res.GapsOpen != 0 {
		t.Errorf("%d duplicates, %d gaps not filled", s.res.Duplicates, s.res.GapsOpen)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err != nil {
		t.Errorf("etl after SIGTERM: %v", err)
	}
	// One log line per collector for the kind, none for any other kind.
	var lines []string
	for _, line := range strings.Split(p.out.String(), "\n") {
		var rec struct {
			Msg       string `json:"msg"`
			Kind      string `json:"kind"`
			Collector string `json:"collector"`
			Stream    string `json:"stream"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(rec.Msg, "exchange protocol anomaly") {
			continue
		}
		// The stream names the symbol; the data type only when the
		// exchange's refusal says it (OKX's does, Coinbase's and Kraken's
		// name a product).
		lines = append(lines, rec.Collector+" "+rec.Kind+" "+rec.Stream[strings.LastIndex(rec.Stream, ":")+1:])
	}
	sort.Strings(lines)
	var wantLines []string
	for _, ex := range refusing {
		wantLines = append(wantLines, fmt.Sprintf("%s-refused %s %s", ex, collector.AnomalySubscriptionRefused, refused[ex]))
	}
	sort.Strings(wantLines)
	diff(t, "protocol anomaly log lines (collector kind symbol)", wantLines, lines)
	s.res.Note = fmt.Sprintf("OKX, Coinbase and Kraken each refused 1 of 2 symbols: marked refused in /api/status, 1 subscription_refused anomaly and 1 log line each; 0 reconnects or restarts in %v (max silence 1 s)", up.Round(100*time.Millisecond))
}

// verifyTrades asserts, value for value, that the database holds exactly
// the exchange's trades of one market.
func (r *rig) verifyTrades(ex market.Exchange, sym market.Symbol) {
	r.t.Helper()
	var want []string
	for _, tr := range r.sim.Trades(ex, sym) {
		want = append(want, normTime(fmt.Sprintf("%s %s %s %s %s", tr.TradeID, tr.Time.UTC().Format(time.RFC3339Nano), tr.Price.String(), tr.Size.String(), tr.Side)))
	}
	got := r.strings(`SELECT trade_id || ' ' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || ' ' || trim_scale(price)::text || ' ' || trim_scale(size)::text || ' ' || side
		FROM trades WHERE exchange = $1 AND symbol = $2 ORDER BY trade_id::numeric`, string(ex), string(sym))
	diff(r.t, fmt.Sprintf("%s %s trades", ex, sym), want, got)
}

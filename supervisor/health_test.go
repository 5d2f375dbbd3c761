package supervisor

import (
	"slices"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/spec"
)

func TestAssess(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	trades := market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade}
	tickers := market.Stream{Exchange: market.OKX, Symbol: "ETH-USDT", Type: market.TypeTicker}
	candles := market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: "1m"}
	lim := limits{
		heartbeat: 90 * time.Second, maxSilence: 300 * time.Second, maxErrorsPerMinute: 60,
		silenceByType: map[market.DataType]time.Duration{market.TypeTicker: 600 * time.Second},
	}
	status := func(edit func(*collector.Status)) collector.Status {
		st := collector.Status{
			State: collector.StateConnected, Since: t0, ConnectedSince: t0, LastMessage: t0.Add(time.Hour - time.Second),
			Streams: map[string]collector.StreamStatus{
				trades.String():  {Stream: trades, LastData: t0.Add(time.Hour - time.Second)},
				tickers.String(): {Stream: tickers, LastData: t0.Add(time.Hour - time.Second)},
				candles.String(): {Stream: candles, LastData: t0.Add(time.Hour - time.Second)},
			},
		}
		if edit != nil {
			edit(&st)
		}
		return st
	}
	setData := func(s market.Stream, at time.Time) func(*collector.Status) {
		return func(st *collector.Status) {
			ss := st.Streams[s.String()]
			ss.LastData = at
			st.Streams[s.String()] = ss
		}
	}
	now := t0.Add(time.Hour)
	cases := []struct {
		name    string
		st      collector.Status
		started time.Time
		rate    float64
		want    []string
		restart IssueKind
	}{
		{name: "healthy", st: status(nil), started: t0, rate: 0},
		{
			name: "a refused stream is reported, not stale: no restart", started: t0,
			st: status(func(st *collector.Status) {
				ss := st.Streams[trades.String()]
				ss.LastData, ss.Refused, ss.RefusedCode, ss.RefusedMessage = time.Time{}, true, "60018", "instId:BTC-USDT doesn't exist"
				st.Streams[trades.String()] = ss
			}),
			want: []string{"the exchange refused trades for BTC-USDT: 60018 instId:BTC-USDT doesn't exist"},
		},
		{
			name: "protocol anomalies are reported, not restarted", started: t0,
			st: status(func(st *collector.Status) {
				st.Anomalies = map[string]uint64{collector.AnomalyUnknownMessage: 2, collector.AnomalyBadField: 1}
			}),
			want: []string{"exchange protocol anomalies (has its API changed?): unknown_message 2, bad_field 1"},
		},
		{
			name: "stale trades", st: status(setData(trades, now.Add(-312*time.Second))), started: t0,
			want: []string{"no data on trades for BTC-USDT for 312s"}, restart: IssueStaleData,
		},
		{
			name: "a stream without data is judged from its first subscription, not the run's start", started: t0,
			st: status(func(st *collector.Status) {
				ss := st.Streams[trades.String()]
				ss.LastData, ss.Subscribed, ss.FirstSubscribed = time.Time{}, true, now.Add(-200*time.Second)
				st.Streams[trades.String()] = ss
			}),
		},
		{
			name: "a stream without data since its first subscription goes stale", started: t0,
			st: status(func(st *collector.Status) {
				ss := st.Streams[trades.String()]
				ss.LastData, ss.Subscribed, ss.FirstSubscribed = time.Time{}, true, now.Add(-312*time.Second)
				st.Streams[trades.String()] = ss
			}),
			want: []string{"no data on trades for BTC-USDT for 312s"}, restart: IssueStaleData,
		},
		{
			name: "a stream never subscribed is judged from the run's start", started: now.Add(-301 * time.Second),
			st: status(func(st *collector.Status) {
				ss := st.Streams[trades.String()]
				ss.LastData = time.Time{}
				st.Streams[trades.String()] = ss
			}),
			want: []string{"no data on trades for BTC-USDT for 301s"}, restart: IssueStaleData,
		},
		{
			name: "tickers have a longer silence", st: status(setData(tickers, now.Add(-312*time.Second))), started: t0,
		},
		{
			name: "stale tickers beyond their own silence", st: status(setData(tickers, now.Add(-601*time.Second))), started: t0,
			want: []string{"no data on tickers for ETH-USDT for 601s"}, restart: IssueStaleData,
		},
		{
			name: "stale candles", st: status(setData(candles, now.Add(-400*time.Second))), started: t0,
			want: []string{"no data on candles 1m for BTC-USDT for 400s"}, restart: IssueStaleData,
		},
		{
			name: "never any data, but the run is young", st: status(setData(trades, time.Time{})), started: now.Add(-299 * time.Second),
		},
		{
			name: "never any data and the run is old", st: status(setData(trades, time.Time{})), started: now.Add(-301 * time.Second),
			want: []string{"no data on trades for BTC-USDT for 301s"}, restart: IssueStaleData,
		},
		{
			name: "exchange refused the stream",
			st: status(func(st *collector.Status) {
				ss := st.Streams[trades.String()]
				ss.LastData, ss.LastError = time.Time{}, "okx error 60018: doesn't exist"
				st.Streams[trades.String()] = ss
			}),
			started: t0,
			want:    []string{"no data on trades for BTC-USDT for 3600s (exchange: okx error 60018: doesn't exist)"}, restart: IssueStaleData,
		},
		{
			name: "no heartbeat", st: status(func(st *collector.Status) { st.LastMessage = now.Add(-91 * time.Second) }), started: t0,
			want: []string{"no message received for 91s (heartbeat timeout 90s)"}, restart: IssueNoHeartbeat,
		},
		{
			name: "reconnecting too long",
			st: status(func(st *collector.Status) {
				st.State, st.Since = collector.StateReconnecting, now.Add(-100*time.Second)
			}),
			started: t0,
			want:    []string{"not connected (reconnecting) for 100s"}, restart: IssueDisconnected,
		},
		{
			name: "reconnecting briefly",
			st: status(func(st *collector.Status) {
				st.State, st.Since = collector.StateReconnecting, now.Add(-10*time.Second)
			}),
			started: t0,
		},
		{
			name: "error rate", st: status(nil), started: t0, rate: 75,
			want: []string{"75.0 errors per minute (limit 60)"},
		},
		{
			name: "several issues in a stable order",
			st: status(func(st *collector.Status) {
				setData(trades, now.Add(-400*time.Second))(st)
				st.LastMessage = now.Add(-95 * time.Second)
			}),
			started: t0, rate: 61,
			want: []string{
				"no message received for 95s (heartbeat timeout 90s)",
				"no data on trades for BTC-USDT for 400s",
				"61.0 errors per minute (limit 60)",
			},
			restart: IssueNoHeartbeat,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			issues := assess(&tc.st, tc.started, now, &lim, tc.rate)
			if got := issueTexts(issues); !slices.Equal(got, append([]string{}, tc.want...)) {
				t.Errorf("issues = %q, want %q", got, tc.want)
			}
			is, ok := restartTrigger(issues)
			if ok != (tc.restart != "") || is.Kind != tc.restart {
				t.Errorf("restart trigger = %q (%v), want %q", is.Kind, ok, tc.restart)
			}
		})
	}
}

func TestLimitsFor(t *testing.T) {
	cfg := Config{MaxSilence: 300 * time.Second, HeartbeatTimeout: 90 * time.Second, HealthCheckInterval: 30 * time.Second}
	cases := []struct {
		name                        string
		spec                        spec.Collector
		trade, ticker, wantInterval time.Duration
	}{
		{name: "defaults", spec: newSpec("a"), trade: 300 * time.Second, ticker: 300 * time.Second, wantInterval: 30 * time.Second},
		{name: "collector override", spec: newSpec("a", withSilence(time.Minute), withInterval(5*time.Second)),
			trade: time.Minute, ticker: time.Minute, wantInterval: 5 * time.Second},
		{name: "type override", spec: newSpec("a", withSilence(time.Minute), func(s *spec.Collector) {
			s.MaxSilenceByType = map[market.DataType]spec.Duration{market.TypeTrade: spec.Duration(10 * time.Minute)}
		}), trade: 10 * time.Minute, ticker: time.Minute, wantInterval: 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := limitsFor(&cfg, &tc.spec)
			if got := l.silence(market.TypeTrade); got != tc.trade {
				t.Errorf("trade silence %s, want %s", got, tc.trade)
			}
			if got := l.silence(market.TypeTicker); got != tc.ticker {
				t.Errorf("ticker silence %s, want %s", got, tc.ticker)
			}
			if got := checkInterval(&cfg, &tc.spec); got != tc.wantInterval {
				t.Errorf("interval %s, want %s", got, tc.wantInterval)
			}
		})
	}
}

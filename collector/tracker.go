package collector

import (
	"sort"
	"sync"
	"time"

	"marketetl/market"
)

// tracker keeps a collector's Status. Its methods are called by the
// connection goroutines; snapshot is called by anyone. Every method holds
// the lock only to update or copy a few fields.
type tracker struct {
	now func() time.Time

	mu sync.Mutex // guards st, streams, conns and logged
	// st is the status but for its Streams, which snapshot builds from
	// streams.
	st Status
	// streams holds each stream's status by Stream.String(); the router
	// keeps a pointer to a wanted stream's (stat), so that a record finds
	// it without a look-up.
	streams map[string]*StreamStatus
	// conns holds each planned connection's state by key.
	conns map[string]State
	// logged records the reject reasons already logged at warn level.
	logged map[string]bool
	// duplicates counts records dropped as already handed on.
	duplicates uint64
	// builtFrom maps a trade stream's key to the candle streams built
	// from its trades (ConnPlan.Aggregated): they are subscribed when it
	// is.
	builtFrom map[string][]string
}

func newTracker(name string, ex market.Exchange, now func() time.Time) *tracker {
	return &tracker{
		now:     now,
		st:      Status{Name: name, Exchange: ex, State: StateStarting, Since: now()},
		streams: map[string]*StreamStatus{},
		conns:   map[string]State{},
		logged:  map[string]bool{},
	}
}

func (t *tracker) snapshot() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.st
	s.Streams = make(map[string]StreamStatus, len(t.streams))
	for k, v := range t.streams {
		s.Streams[k] = *v
	}
	if t.st.Anomalies != nil {
		s.Anomalies = make(map[string]uint64, len(t.st.Anomalies))
		for k, v := range t.st.Anomalies {
			s.Anomalies[k] = v
		}
	}
	if t.st.Reconciled != nil {
		s.Reconciled = make(map[string]uint64, len(t.st.Reconciled))
		for k, v := range t.st.Reconciled {
			s.Reconciled[k] = v
		}
	}
	return s
}

// setStreams makes the status list exactly streams, keeping what it knew.
func (t *tracker) setStreams(streams []market.Stream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make(map[string]*StreamStatus, len(streams))
	for _, s := range streams {
		k := s.String()
		if old, ok := t.streams[k]; ok {
			next[k] = old
			continue
		}
		next[k] = &StreamStatus{Stream: s}
	}
	t.streams = next
}

// stat returns the status entry of s, nil when s is not in the list. The
// entry stays s's until setStreams drops s; it is read and written under
// the tracker's mutex only.
func (t *tracker) stat(s market.Stream) *StreamStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.streams[s.String()]
}

func (t *tracker) setState(s State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setStateLocked(s)
}

func (t *tracker) setStateLocked(s State) {
	if t.st.State == s {
		return
	}
	now := t.now()
	t.st.State = s
	t.st.Since = now
	if s == StateConnected {
		t.st.ConnectedSince = now
	} else {
		t.st.ConnectedSince = time.Time{}
	}
}

func (t *tracker) connAdded(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conns[key] = StateConnecting
	t.deriveLocked()
}

func (t *tracker) connRemoved(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, key)
	t.deriveLocked()
}

func (t *tracker) connDown(key string) { t.setConnState(key, StateReconnecting) }

func (t *tracker) setConnState(key string, s State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.conns[key]; !ok {
		return
	}
	t.conns[key] = s
	t.deriveLocked()
}

// deriveLocked sets the collector's state from its connections': connected
// when all are, reconnecting when any waits to redial, else connecting.
func (t *tracker) deriveLocked() {
	if t.st.State == StateStopped || len(t.conns) == 0 {
		return
	}
	all := true
	anyWaiting := false
	for _, s := range t.conns {
		if s != StateConnected {
			all = false
		}
		if s == StateReconnecting {
			anyWaiting = true
		}
	}
	switch {
	case all:
		t.setStateLocked(StateConnected)
	case anyWaiting:
		t.setStateLocked(StateReconnecting)
	default:
		t.setStateLocked(StateConnecting)
	}
}

func (t *tracker) message(at time.Time) {
	t.mu.Lock()
	t.st.MessagesReceived++
	t.st.LastMessage = at
	t.mu.Unlock()
}

func (t *tracker) processed() {
	t.mu.Lock()
	t.st.MessagesProcessed++
	t.mu.Unlock()
}

// record counts a record of s handed on at at. ss is s's entry as stat
// returned it, or nil when the caller has none.
func (t *tracker) record(ss *StreamStatus, s market.Stream, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Records++
	t.st.LastData = at
	if ss == nil {
		k := s.String()
		if ss = t.streams[k]; ss == nil {
			ss = &StreamStatus{Stream: s}
			t.streams[k] = ss
		}
	}
	ss.Subscribed = true
	ss.LastData = at
	ss.Records++
}

// recordQuiet counts a record of s that restates earlier data (a quiet
// book's snapshot): the stream's freshness is not moved.
func (t *tracker) recordQuiet(s market.Stream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Records++
	if ss, ok := t.streams[s.String()]; ok {
		ss.Records++
	}
}

func (t *tracker) duplicate() {
	t.mu.Lock()
	t.duplicates++
	t.mu.Unlock()
}

func (t *tracker) subscribed(streams []market.Stream) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	mark := func(k string) {
		if ss, ok := t.streams[k]; ok {
			ss.Subscribed = true
			if ss.FirstSubscribed.IsZero() {
				ss.FirstSubscribed = now
			}
			ss.LastError = ""
			ss.Refused, ss.RefusedCode, ss.RefusedMessage = false, "", ""
		}
	}
	for _, s := range streams {
		k := s.String()
		mark(k)
		for _, b := range t.builtFrom[k] {
			mark(b)
		}
	}
}

// unsubscribed marks streams, and the candle streams built from them, not
// subscribed: their connection was lost. A refusal is kept.
func (t *tracker) unsubscribed(streams []market.Stream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	unmark := func(k string) {
		if ss, ok := t.streams[k]; ok && ss.Subscribed {
			ss.Subscribed = false
		}
	}
	for _, s := range streams {
		k := s.String()
		unmark(k)
		for _, b := range t.builtFrom[k] {
			unmark(b)
		}
	}
}

// setBuiltFrom records which candle streams are built from which trade
// streams (each of aggregated from its symbol's trades).
func (t *tracker) setBuiltFrom(aggregated []market.Stream) {
	m := make(map[string][]string, len(aggregated))
	for _, a := range aggregated {
		k := market.Stream{Exchange: a.Exchange, Symbol: a.Symbol, Type: market.TypeTrade}.String()
		m[k] = append(m[k], a.String())
	}
	t.mu.Lock()
	t.builtFrom = m
	t.mu.Unlock()
}

// reject counts a rejected frame, which is also an error.
func (t *tracker) reject() {
	t.mu.Lock()
	t.st.Rejects++
	t.st.Errors++
	t.mu.Unlock()
}

// firstOfReason reports whether reason is seen for the first time.
func (t *tracker) firstOfReason(reason string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.logged[reason] {
		return false
	}
	t.logged[reason] = true
	return true
}

func (t *tracker) recordError(err error, at time.Time) {
	if err == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Errors++
	t.st.LastError = err.Error()
	t.st.LastErrorTime = at
}

func (t *tracker) exchangeError(ee *ExchangeError, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Errors++
	t.st.LastError = ee.Error()
	t.st.LastErrorTime = at
	if ee.Stream.Symbol == "" {
		return
	}
	k := ee.Stream.String()
	if ss, ok := t.streams[k]; ok {
		ss.LastError = ee.Error()
		ss.Subscribed = false
	}
}

func (t *tracker) reconciled(outcome string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st.Reconciled == nil {
		t.st.Reconciled = map[string]uint64{}
	}
	t.st.Reconciled[outcome]++
}

// gap counts a gap found in stream s.
func (t *tracker) gap(s market.Stream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Gaps++
	if ss, ok := t.streams[s.String()]; ok {
		ss.Gaps++
	}
}

// outOfOrder counts a trade of s whose id was not above the last one.
func (t *tracker) outOfOrder(s market.Stream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ss, ok := t.streams[s.String()]; ok {
		ss.OutOfOrder++
	}
}

func (t *tracker) reconnect() {
	t.mu.Lock()
	t.st.Reconnects++
	t.mu.Unlock()
}

// streamKeys returns the tracked stream keys, sorted; for tests.
func (t *tracker) streamKeys() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.streams))
	for k := range t.streams {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// anomaly counts a protocol anomaly of kind and reports whether it is the
// first of its kind.
func (t *tracker) anomaly(kind string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st.Anomalies == nil {
		t.st.Anomalies = map[string]uint64{}
	}
	t.st.Anomalies[kind]++
	return t.st.Anomalies[kind] == 1
}

// refused marks the streams of ee's symbol (every symbol when ee names
// none) and data type (every type when ee names none) refused by the
// exchange, with its code and message.
func (t *tracker) refused(ee *ExchangeError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ss := range t.streams {
		if (ee.Stream.Symbol != "" && ss.Stream.Symbol != ee.Stream.Symbol) || (ee.Stream.Type != "" && ss.Stream.Type != ee.Stream.Type) {
			continue
		}
		ss.Refused, ss.RefusedCode, ss.RefusedMessage, ss.Subscribed = true, ee.Code, ee.Message, false
	}
}

// setSkew notes the measured clock skew against the exchange.
func (t *tracker) setSkew(d time.Duration) {
	t.mu.Lock()
	t.st.ServerClockOffset = d
	t.mu.Unlock()
}

// balanceCorrections counts balance rows the REST reconciliation delivered.
func (t *tracker) balanceCorrections(n uint64) {
	t.mu.Lock()
	t.st.BalanceCorrections += n
	t.mu.Unlock()
}

// anySubscribed reports whether any stream's subscription is confirmed.
func (t *tracker) anySubscribed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ss := range t.streams {
		if ss.Subscribed {
			return true
		}
	}
	return false
}

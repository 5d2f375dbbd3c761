package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/spec"
	"marketetl/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRunner is a Runner whose Run does what its behaviour says and whose
// Status is what the behaviour set.
type fakeRunner struct {
	spec   spec.Collector
	n      int // which start of its collector this is, from 0
	behave behaviour

	mu sync.Mutex // guards st
	st collector.Status
}

// behaviour is what a fake run does; n is the start number, from 0.
type behaviour func(ctx context.Context, r *fakeRunner) error

func (r *fakeRunner) Run(ctx context.Context) error { return r.behave(ctx, r) }

func (r *fakeRunner) Status() collector.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.Streams = make(map[string]collector.StreamStatus, len(r.st.Streams))
	for k, v := range r.st.Streams {
		s.Streams[k] = v
	}
	return s
}

// connect marks the run connected now.
func (r *fakeRunner) connect() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.st.State, r.st.Since, r.st.ConnectedSince = collector.StateConnected, now, now
}

// beat records a frame now; with data, a record on every stream too.
func (r *fakeRunner) beat(data bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.st.LastMessage = now
	r.st.MessagesReceived++
	r.st.MessagesProcessed++
	if !data {
		return
	}
	r.st.LastData = now
	for k, ss := range r.st.Streams {
		ss.LastData, ss.Subscribed = now, true
		ss.Records++
		ss.Gaps = ss.Records / 2 // any count: the reports pass it on
		r.st.Records++
		r.st.Streams[k] = ss
	}
}

// fail counts an error with text.
func (r *fakeRunner) fail(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Errors++
	r.st.LastError, r.st.LastErrorTime = text, time.Now()
}

// healthy connects and delivers data on every stream every second.
func healthy(ctx context.Context, r *fakeRunner) error {
	r.connect()
	r.beat(true)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.beat(true)
		}
	}
}

// silent connects and answers pings every second but never delivers data.
func silent(ctx context.Context, r *fakeRunner) error {
	r.connect()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.beat(false)
		}
	}
}

// failing returns err at once.
func failing(err error) behaviour {
	return func(context.Context, *fakeRunner) error { return err }
}

// after runs first for the starts before n and then rest.
func after(n int, first, rest behaviour) behaviour {
	return func(ctx context.Context, r *fakeRunner) error {
		if r.n < n {
			return first(ctx, r)
		}
		return rest(ctx, r)
	}
}

// runFor runs healthy for d, then returns err.
func runFor(d time.Duration, err error) behaviour {
	return func(ctx context.Context, r *fakeRunner) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		_ = healthy(ctx, r)
		if context.Cause(ctx) == context.DeadlineExceeded {
			return err
		}
		return nil
	}
}

// hangs ignores ctx until release is closed.
func hangs(release <-chan struct{}) behaviour {
	return func(context.Context, *fakeRunner) error {
		<-release
		return nil
	}
}

// fakeFactory builds fakeRunners and records when each collector started.
type fakeFactory struct {
	mu sync.Mutex // guards the fields below
	// behave is each collector's behaviour; default healthy.
	behave map[string]behaviour
	starts map[string][]time.Time
	// buildErr makes building the named collector fail.
	buildErr map[string]error
}

func newFactory() *fakeFactory {
	return &fakeFactory{behave: map[string]behaviour{}, starts: map[string][]time.Time{}, buildErr: map[string]error{}}
}

func (f *fakeFactory) set(name string, b behaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behave[name] = b
}

func (f *fakeFactory) build(spec spec.Collector) (Runner, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.buildErr[spec.Name]; err != nil {
		return nil, err
	}
	b := f.behave[spec.Name]
	if b == nil {
		b = healthy
	}
	r := &fakeRunner{spec: spec, n: len(f.starts[spec.Name]), behave: b}
	now := time.Now()
	r.st = collector.Status{Name: spec.Name, Exchange: spec.Exchange, State: collector.StateConnecting, Since: now,
		Streams: map[string]collector.StreamStatus{}}
	for _, s := range spec.Streams() {
		r.st.Streams[s.String()] = collector.StreamStatus{Stream: s}
	}
	f.starts[spec.Name] = append(f.starts[spec.Name], now)
	return r, nil
}

// startTimes returns when the named collector was started.
func (f *fakeFactory) startTimes(name string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.starts[name]...)
}

// gaps returns the time between consecutive starts of name.
func (f *fakeFactory) gaps(name string) []time.Duration {
	ts := f.startTimes(name)
	var out []time.Duration
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]))
	}
	return out
}

// fakeRegistry is an in-memory Registry.
type fakeRegistry struct {
	mu    sync.Mutex // guards specs and err
	specs map[string]spec.Collector
	// err, when set, fails every call.
	err error
}

func newRegistry(specs ...spec.Collector) *fakeRegistry {
	r := &fakeRegistry{specs: map[string]spec.Collector{}}
	for _, s := range specs {
		r.specs[s.Name] = s
	}
	return r
}

func (r *fakeRegistry) Collectors(context.Context) ([]spec.Collector, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	var out []spec.Collector
	for _, s := range r.specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *fakeRegistry) PutCollector(_ context.Context, spec spec.Collector) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if spec.Enabled == nil {
		return errors.New("fake registry: Enabled must be set")
	}
	r.specs[spec.Name] = spec
	return nil
}

func (r *fakeRegistry) DeleteCollector(_ context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	delete(r.specs, name)
	return nil
}

// enabled returns the stored enabled state of name, and whether it is stored.
func (r *fakeRegistry) enabled(name string) (bool, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.specs[name]
	return ok && s.IsEnabled(), ok
}

// fakeHistory records the rounds of history rows.
type fakeHistory struct {
	mu      sync.Mutex // guards the fields below
	rounds  [][]store.CollectorStatus
	deletes []time.Time
	err     error
}

func (h *fakeHistory) InsertStatus(_ context.Context, rows []store.CollectorStatus) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	h.rounds = append(h.rounds, append([]store.CollectorStatus(nil), rows...))
	return nil
}

func (h *fakeHistory) DeleteStatusBefore(_ context.Context, before time.Time) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return 0, h.err
	}
	h.deletes = append(h.deletes, before)
	return 0, nil
}

func (h *fakeHistory) allRounds() [][]store.CollectorStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]store.CollectorStatus(nil), h.rounds...)
}

// spec returns a valid collector spec named name on OKX.
func newSpec(name string, opts ...func(*spec.Collector)) spec.Collector {
	s := spec.Collector{
		Name:      name,
		Exchange:  market.OKX,
		Symbols:   []market.Symbol{"BTC-USDT"},
		DataTypes: []market.DataType{market.TypeTrade},
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func disabled(s *spec.Collector) { off := false; s.Enabled = &off }
func enabledSpec(s *spec.Collector) {
	on := true
	s.Enabled = &on
}
func noAutoRestart(s *spec.Collector) { off := false; s.AutoRestart = &off }
func withInterval(d time.Duration) func(*spec.Collector) {
	return func(s *spec.Collector) { s.HealthCheckInterval = spec.Duration(d) }
}
func withSilence(d time.Duration) func(*spec.Collector) {
	return func(s *spec.Collector) { s.MaxSilence = spec.Duration(d) }
}
func withSymbols(syms ...market.Symbol) func(*spec.Collector) {
	return func(s *spec.Collector) { s.Symbols = syms }
}

// errTransient is a run's failure that a restart may cure.
var errTransient = errors.New("connection refused")

// errBadConfig is a run's failure that a restart cannot cure.
var errBadConfig = fmt.Errorf("unknown instrument: %w", collector.ErrPermanent)

package collector

import (
	"slices"
	"sync"
	"time"

	"marketetl/market"
)

// Clock skew measurement. Every trade carries the exchange's time of
// execution and our time of receipt; received − exchange time is the
// network latency plus how far the local clock runs ahead of the
// exchange's. A low percentile of it over recent trades filters out
// latency spikes (which only make it larger) and single bad timestamps,
// and estimates the local clock's offset from the exchange's: about 0 on a
// synchronised host, about −10s on a host whose clock is 10 s behind.
const (
	// skewWindow is how many recent trades the estimate looks at.
	skewWindow = 256
	// skewMinSamples is how many trades are needed before an estimate is
	// reported: one trade is no measurement.
	skewMinSamples = 10
	// skewPercentile is the percentile of received − exchange time taken
	// as the estimate.
	skewPercentile = 0.10
)

// ClockSkew measures, per exchange, the offset of the local clock from
// the exchange's clock from the trades the collectors receive. Share one
// between all the collectors of a process (Config.ClockSkew); validation
// reads it (Offset) to allow exchange times that are ahead of a local
// clock that runs behind. Safe for concurrent use.
type ClockSkew struct {
	mu sync.Mutex // guards by
	by map[market.Exchange]*skewSamples
}

// skewSamples is one exchange's ring of recent samples and its estimate.
type skewSamples struct {
	ring   [skewWindow]time.Duration
	n      int // samples held, up to skewWindow
	next   int // where the next sample goes
	since  int // samples added since the estimate was computed
	est    time.Duration
	hasEst bool
	sorted []time.Duration
}

// NewClockSkew returns an empty ClockSkew.
func NewClockSkew() *ClockSkew {
	return &ClockSkew{by: map[market.Exchange]*skewSamples{}}
}

// Observe adds one sample: a record of ex stamped exchangeTime by the
// exchange and received at received by the local clock.
func (k *ClockSkew) Observe(ex market.Exchange, exchangeTime, received time.Time) {
	if k == nil || exchangeTime.IsZero() || received.IsZero() {
		return
	}
	d := received.Sub(exchangeTime)
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.by[ex]
	if s == nil {
		s = &skewSamples{}
		k.by[ex] = s
	}
	s.ring[s.next] = d
	s.next = (s.next + 1) % skewWindow
	if s.n < skewWindow {
		s.n++
	}
	s.since++
	// The estimate is recomputed on every sample while the window fills,
	// then every 16 samples: sorting 256 durations per trade is not free.
	if s.n >= skewMinSamples && (s.n < skewWindow || s.since >= 16 || !s.hasEst) {
		s.sorted = append(s.sorted[:0], s.ring[:s.n]...)
		slices.Sort(s.sorted)
		s.est, s.hasEst, s.since = s.sorted[int(float64(s.n-1)*skewPercentile)], true, 0
	}
}

// Offset returns the estimated offset of the local clock from ex's clock
// (negative when the local clock is behind, latency included), and whether
// enough trades were seen for an estimate.
func (k *ClockSkew) Offset(ex market.Exchange) (time.Duration, bool) {
	if k == nil {
		return 0, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.by[ex]
	if s == nil || !s.hasEst {
		return 0, false
	}
	return s.est, true
}

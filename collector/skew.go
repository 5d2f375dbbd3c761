package collector

import (
	"sync"
	"sync/atomic"
	"time"

	"marketetl/market"
)

// Clock skew measurement. Every trade carries the exchange's time of
// execution and our time of receipt; received − exchange time is the
// network latency plus how far the local clock runs ahead of the
// exchange's. The estimate filters latency spikes (which only make a
// sample larger) by taking the second smallest of each block of skewBlock
// samples, and bad timestamps (which can make a sample far too small: one
// per block, or more in fewer than half of the blocks) by taking the
// median of the last skewBlocks such values: about
// 0 on a synchronised host, about −10s on a host whose clock is 10 s
// behind. A trade costs a comparison and a store; every skewBlock-th trade
// also sorts skewBlocks durations on the stack: constant work, no
// allocation.
//
// Until the trades give an estimate (skewMinSamples of them), the
// exchange's server time read at connect (SetServerOffset) stands in, so
// that the first trades after a start on a host whose clock is behind are
// not refused for their time.
const (
	// skewBlock is how many trades each block covers.
	skewBlock = 16
	// skewBlocks is how many blocks the estimate looks at: the
	// window is skewBlock × skewBlocks = 256 trades.
	skewBlocks = 16
	// skewMinSamples is how many trades are needed before an estimate is
	// reported from trades alone: one trade is no measurement. Until the
	// first block is full, the estimate is the second smallest sample.
	skewMinSamples = 10
)

// ClockSkew measures, per exchange, the offset of the local clock from
// the exchange's clock, from the exchange's server time at connect and
// from the trades the collectors receive. Share one between all the
// collectors of a process (Config.ClockSkew); validation reads it (Offset)
// to allow exchange times that are ahead of a local clock that runs
// behind. Safe for concurrent use; Offset takes no lock.
type ClockSkew struct {
	// by holds one entry per exchange of market.Exchanges, made by
	// NewClockSkew and never changed: reads need no lock. A slice searched
	// in order rather than a map: a few short names compare faster than
	// one is hashed, on every trade (Observe) and every record (Offset).
	by []skewEntry
}

// skewEntry is one exchange's samples.
type skewEntry struct {
	ex market.Exchange
	s  *skewSamples
}

// samples returns ex's samples, nil for an exchange marketetl does not
// speak.
func (k *ClockSkew) samples(ex market.Exchange) *skewSamples {
	for i := range k.by {
		if k.by[i].ex == ex {
			return k.by[i].s
		}
	}
	return nil
}

// skewSamples is one exchange's recent samples and its estimate.
type skewSamples struct {
	mu sync.Mutex // guards the fields up to est
	// cur and cur2 are the smallest and second smallest samples of the
	// current block, which holds curN samples.
	cur, cur2 time.Duration
	curN      int
	mins      [skewBlocks]time.Duration // each block's second smallest
	nMins     int                       // blocks held, up to skewBlocks
	nextMin   int                       // where the next block's value goes
	est       atomic.Int64
	hasEst    atomic.Bool
	server    atomic.Int64 // offset measured from the server time
	hasServe  atomic.Bool
}

// NewClockSkew returns a ClockSkew with no measurement.
func NewClockSkew() *ClockSkew {
	k := &ClockSkew{}
	for _, ex := range market.Exchanges() {
		k.by = append(k.by, skewEntry{ex: ex, s: &skewSamples{}})
	}
	return k
}

// Observe adds one sample: a record of ex stamped exchangeTime by the
// exchange and received at received by the local clock. Samples of an
// exchange marketetl does not speak are ignored.
func (k *ClockSkew) Observe(ex market.Exchange, exchangeTime, received time.Time) {
	if k == nil || exchangeTime.IsZero() || received.IsZero() {
		return
	}
	s := k.samples(ex)
	if s == nil {
		return
	}
	d := received.Sub(exchangeTime)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.curN == 0:
		s.cur, s.cur2 = d, d
	case d < s.cur:
		s.cur, s.cur2 = d, s.cur
	case s.curN == 1 || d < s.cur2:
		s.cur2 = d
	}
	s.curN++
	if s.curN < skewBlock {
		if s.nMins == 0 && s.curN >= skewMinSamples {
			s.est.Store(int64(s.cur2))
			s.hasEst.Store(true)
		}
		return
	}
	s.mins[s.nextMin] = s.cur2
	s.nextMin = (s.nextMin + 1) % skewBlocks
	s.nMins = min(s.nMins+1, skewBlocks)
	s.curN = 0
	s.est.Store(int64(medianOf(s.mins, s.nMins)))
	s.hasEst.Store(true)
}

// medianOf returns the lower median of the first n of mins, sorting a copy
// on the stack.
func medianOf(mins [skewBlocks]time.Duration, n int) time.Duration {
	for i := 1; i < n; i++ {
		for j := i; j > 0 && mins[j] < mins[j-1]; j-- {
			mins[j], mins[j-1] = mins[j-1], mins[j]
		}
	}
	return mins[(n-1)/2]
}

// SetServerOffset records the offset of the local clock from ex's clock
// measured against its server-time endpoint (the host's time minus the
// exchange's; negative when the local clock is behind). It stands in for
// the trades' estimate until there is one.
func (k *ClockSkew) SetServerOffset(ex market.Exchange, d time.Duration) {
	if k == nil {
		return
	}
	if s := k.samples(ex); s != nil {
		s.server.Store(int64(d))
		s.hasServe.Store(true)
	}
}

// Offset returns the estimated offset of the local clock from ex's clock
// (negative when the local clock is behind, latency included), and whether
// it is known: from the trades once enough were seen, else from the
// server time measured at connect.
func (k *ClockSkew) Offset(ex market.Exchange) (time.Duration, bool) {
	if k == nil {
		return 0, false
	}
	s := k.samples(ex)
	if s == nil {
		return 0, false
	}
	if s.hasEst.Load() {
		return time.Duration(s.est.Load()), true
	}
	if s.hasServe.Load() {
		return time.Duration(s.server.Load()), true
	}
	return 0, false
}

// fromTrades reports whether ex's offset is estimated from trades (no
// server-time measurement is needed any more).
func (k *ClockSkew) fromTrades(ex market.Exchange) bool {
	if k == nil {
		return false
	}
	s := k.samples(ex)
	return s != nil && s.hasEst.Load()
}

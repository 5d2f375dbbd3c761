// Package backoff computes the delays of a capped, jittered exponential
// backoff: the one retry schedule shared by the collector's reconnects, the
// supervisor's restarts, the store's and the live feed's retries and the
// backfill. It imports nothing of the project's and holds no state: a caller
// keeps its own attempt count and waits as it sees fit (under
// testing/synctest, time.Timer is already fake), so Policy only needs an
// injectable random source for tests to assert exact delays.
package backoff

import (
	"math"
	"math/rand/v2"
	"time"
)

// Policy is a capped, jittered exponential backoff. The zero Jitter gives
// plain doubling. A Policy is a value: copy it freely; Delay is safe for
// concurrent use when Rand is.
type Policy struct {
	// Min is the base delay of the first retry (attempt 0); each later
	// attempt doubles it. A Min <= 0 gives zero delays.
	Min time.Duration
	// Max caps the base delay before jitter and the jittered delay after
	// it: no delay exceeds Max, and delays at the cap are still spread by
	// the jitter below it. A Max below Min is taken as Min.
	Max time.Duration
	// Jitter spreads each delay.
	Jitter Jitter
	// Rand returns a float in [0, 1); nil uses math/rand/v2. Tests inject
	// a constant or a sequence to get exact delays.
	Rand func() float64
}

// Jitter spreads a base delay d uniformly over
// [d×(1−Below), d×(1+Above)), before the result is capped at Policy.Max.
// Jitter{Below: 0.5} draws from the upper half [d/2, d] ("equal jitter");
// Jitter{Below: 0.2, Above: 0.2} spreads over ±20%.
type Jitter struct {
	// Below is the largest fraction taken off the base delay, in [0, 1];
	// values outside are clamped.
	Below float64
	// Above is the largest fraction added to the base delay, >= 0; a
	// negative value is taken as 0.
	Above float64
}

// Delay returns the delay before retry number attempt, 0 for the first:
// Min doubled attempt times and capped at Max (the base), spread by Jitter
// with one draw of Rand, rounded to the nanosecond and capped at Max again.
// A negative attempt is taken as 0.
func (p Policy) Delay(attempt int) time.Duration {
	if p.Min <= 0 {
		return 0
	}
	maxDelay := max(p.Max, p.Min)
	d := maxDelay
	if attempt < 0 {
		attempt = 0
	}
	if attempt < 62 {
		if v := p.Min << attempt; v>>attempt == p.Min && v < maxDelay {
			d = v
		}
	}
	below := min(max(p.Jitter.Below, 0), 1)
	above := max(p.Jitter.Above, 0)
	if below == 0 && above == 0 {
		return d
	}
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	f := 1 - below + r()*(below+above)
	out := float64(d) * f
	if out >= float64(maxDelay) || math.IsNaN(out) {
		return maxDelay
	}
	return time.Duration(math.Round(max(out, 0)))
}

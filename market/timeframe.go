package market

import (
	"fmt"
	"time"
)

// Timeframe is a normalised candle interval.
type Timeframe string

// The timeframes marketetl knows. Daily and longer candles open at 00:00 UTC;
// weekly candles open on Monday 00:00 UTC.
const (
	TF1m  Timeframe = "1m"
	TF3m  Timeframe = "3m"
	TF5m  Timeframe = "5m"
	TF15m Timeframe = "15m"
	TF30m Timeframe = "30m"
	TF1h  Timeframe = "1h"
	TF2h  Timeframe = "2h"
	TF4h  Timeframe = "4h"
	TF6h  Timeframe = "6h"
	TF12h Timeframe = "12h"
	TF1d  Timeframe = "1d"
	TF1w  Timeframe = "1w"
)

// Timeframes lists the known timeframes, shortest first.
func Timeframes() []Timeframe {
	return []Timeframe{TF1m, TF3m, TF5m, TF15m, TF30m, TF1h, TF2h, TF4h, TF6h, TF12h, TF1d, TF1w}
}

// ParseTimeframe checks that s is a known timeframe.
func ParseTimeframe(s string) (Timeframe, error) {
	tf := Timeframe(s)
	if !tf.Known() {
		return "", fmt.Errorf("timeframe %q: want one of %v", s, Timeframes())
	}
	return tf, nil
}

// Known reports whether tf is one of Timeframes.
func (tf Timeframe) Known() bool { return tf.Duration() != 0 }

// Duration returns the length of one candle, or 0 for an unknown timeframe.
// A switch rather than a map: it runs several times per record on the
// record path, and comparing short strings costs less than hashing them.
func (tf Timeframe) Duration() time.Duration {
	switch tf {
	case TF1m:
		return time.Minute
	case TF3m:
		return 3 * time.Minute
	case TF5m:
		return 5 * time.Minute
	case TF15m:
		return 15 * time.Minute
	case TF30m:
		return 30 * time.Minute
	case TF1h:
		return time.Hour
	case TF2h:
		return 2 * time.Hour
	case TF4h:
		return 4 * time.Hour
	case TF6h:
		return 6 * time.Hour
	case TF12h:
		return 12 * time.Hour
	case TF1d:
		return 24 * time.Hour
	case TF1w:
		return 7 * 24 * time.Hour
	}
	return 0
}

// weekOrigin is a Monday 00:00 UTC: weekly candles open on Mondays.
var weekOrigin = time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC)

// Truncate returns the open time of the candle of timeframe tf that contains t,
// in UTC. It returns t unchanged for an unknown timeframe.
func (tf Timeframe) Truncate(t time.Time) time.Time {
	d := tf.Duration()
	if d == 0 {
		return t
	}
	t = t.UTC()
	if tf == TF1w {
		since := t.Sub(weekOrigin)
		n := since / d
		if since < 0 && since%d != 0 {
			n--
		}
		return weekOrigin.Add(n * d)
	}
	return t.Truncate(d)
}

// Aligned reports whether t is the open time of a candle of timeframe tf.
func (tf Timeframe) Aligned(t time.Time) bool {
	return tf.Known() && tf.Truncate(t).Equal(t)
}

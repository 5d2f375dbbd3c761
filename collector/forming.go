package collector

import (
	"sync"

	"marketetl/market"
)

// forming applies the candle closing rule of an exchange whose candles
// carry no closed flag (CandleCloseRule, Kraken's ohlc): it holds each
// stream's latest forming candle, and the arrival of a candle with a later
// open time closes the one held, whose last update then had every trade of
// its interval. Safe for concurrent use.
type forming struct {
	mu   sync.Mutex // guards held
	held map[market.Stream]market.Candle
}

func newForming() *forming { return &forming{held: map[market.Stream]market.Candle{}} }

// next takes cd, a forming candle just decoded, and returns the held
// candle it closes (a copy marked Closed), or nil. A candle older than the
// one held is final already (a later one was seen): it is marked Closed in
// place and the held one is kept.
func (f *forming) next(cd *market.Candle) *market.Candle {
	s := cd.Stream()
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.held[s]
	switch {
	case ok && cd.Time.Before(h.Time):
		cd.Closed = true
		return nil
	case ok && cd.Time.After(h.Time):
		f.held[s] = *cd
		h.Closed = true
		return &h
	}
	f.held[s] = *cd
	return nil
}

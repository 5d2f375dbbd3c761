package service

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

type gapList struct {
	mu   sync.Mutex
	gaps []market.Gap
}

func (l *gapList) RecordGap(g market.Gap) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gaps = append(l.gaps, g)
}

func TestGapRelayHoldsGapsUntilAttached(t *testing.T) {
	r := &gapRelay{log: zap.NewNop()}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	gap := func(n int) market.Gap {
		return market.Gap{
			Stream: market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade},
			From:   at, To: at.Add(time.Duration(n) * time.Second), Reason: market.GapSpoolFull,
		}
	}
	r.RecordGap(gap(1))
	r.RecordGap(gap(2))
	var to gapList
	r.attach(&to)
	r.RecordGap(gap(3))
	if len(to.gaps) != 3 {
		t.Fatalf("recorded %d gaps, want 3: %v", len(to.gaps), to.gaps)
	}
	for i, g := range to.gaps {
		if g != gap(i+1) {
			t.Errorf("gap %d is %v, want %v", i, g, gap(i+1))
		}
	}
}

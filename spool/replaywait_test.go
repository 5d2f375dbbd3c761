package spool

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

// waitsWriter is a writer whose queue is always full; it notes the wait
// each TryWriteWithin was given.
type waitsWriter struct {
	listWriter
	waits []time.Duration
}

func (w *waitsWriter) TryWriteWithin(_ market.Record, wait time.Duration) (bool, error) {
	w.waits = append(w.waits, wait)
	return false, nil
}

// TestNoWaitForRoomDuringAReplay: while a replay fills the writer's queue,
// a new record that finds it full joins the spool at once instead of
// waiting SpoolAfter for room (which would hold up the collector's next
// records, and the live feed with them); in memory it waits.
func TestNoWaitForRoomDuringAReplay(t *testing.T) {
	for _, c := range []struct {
		state State
		want  time.Duration
	}{{StateMemory, time.Second}, {StateReplaying, 0}} {
		sp := openSpool(t, Config{Dir: t.TempDir()})
		w := &waitsWriter{}
		b, err := NewBuffer(BufferConfig{SpoolAfter: time.Second}, sp, w, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		b.mu.Lock()
		b.setLocked(c.state)
		b.mu.Unlock()
		if err := b.Write(context.Background(), trade(1)); err != nil {
			t.Fatal(err)
		}
		if len(w.waits) != 1 || w.waits[0] != c.want {
			t.Errorf("%s: waits %v, want [%v]", c.state, w.waits, c.want)
		}
		if got := b.Stats().Spooled; got != 1 {
			t.Errorf("%s: %d spooled, want 1", c.state, got)
		}
	}
}

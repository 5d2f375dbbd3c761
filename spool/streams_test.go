package spool

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

// gateWriter is a Writer whose queue, for the records of one symbol,
// waits until release is closed (a database that is slow for one table is
// simulated by a queue that takes its time); records of other symbols are
// queued at once.
type gateWriter struct {
	listWriter
	slow    market.Symbol
	entered chan struct{}
	release chan struct{}
}

func (w *gateWriter) TryWriteWithin(rec market.Record, _ time.Duration) (bool, error) {
	if rec.Header().Symbol == w.slow {
		close(w.entered)
		<-w.release
		return true, nil
	}
	return true, nil
}

// A collector whose Write waits for room in the writer's queue does not
// hold back another collector's Write: the Buffer takes no lock shared
// between streams while it waits. (With one shared lock, the second Write
// would wait for the first and the test would hang.)
func TestBufferWriteWaitsPerStream(t *testing.T) {
	sp, err := Open(Config{Dir: t.TempDir()}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	w := &gateWriter{slow: "ETH-USDT", entered: make(chan struct{}), release: make(chan struct{})}
	b, err := NewBuffer(BufferConfig{SpoolAfter: time.Hour}, sp, w, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	slow := trade(1)
	slow.Symbol = "ETH-USDT"
	done := make(chan error, 1)
	go func() { done <- b.Write(context.Background(), slow) }()
	<-w.entered
	if err := b.Write(t.Context(), trade(2)); err != nil {
		t.Fatalf("write of another stream: %v", err)
	}
	close(w.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Spooled != 0 {
		t.Errorf("stats %+v, want nothing spooled", st)
	}
}

package store

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"marketetl/market"
)

// keepOverflow is an Overflow that keeps what it is given.
type keepOverflow struct {
	mu      sync.Mutex // guards the fields below
	recs    []market.Record
	rejects []market.Reject
}

func (o *keepOverflow) Append(rec market.Record) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recs = append(o.recs, rec)
	return nil
}

func (o *keepOverflow) AppendReject(rej market.Reject) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rejects = append(o.rejects, rej)
	return nil
}

// TestRejectsSpilledAtShutdown: rejects that cannot be stored before the
// shutdown deadline (the rejects table locked) are handed to the Overflow,
// texts and raw payload as clipped, not counted as lost.
func TestRejectsSpilledAtShutdown(t *testing.T) {
	_, pool := migratedDB(t)
	lock, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(context.WithoutCancel(t.Context())) }()
	if _, err := lock.Exec(t.Context(), `LOCK TABLE rejects IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ov := &keepOverflow{}
	r := startWriter(t, Config{FlushInterval: time.Hour, ShutdownTimeout: 200 * time.Millisecond, Overflow: ov, RawLimit: 4}, pool)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	var want []market.Reject
	for i, reason := range []string{"bad_side", "non_positive_price", "decode_error"} {
		rej := market.Reject{Received: at.Add(time.Duration(i) * time.Second), Exchange: market.OKX, Symbol: "BTC-USDT",
			Type: market.TypeTrade, Reason: reason, Field: "side", Detail: "d", Raw: []byte("raw payload")}
		if err := r.Reject(t.Context(), rej); err != nil {
			t.Fatal(err)
		}
		rej.Raw = []byte("raw ") // clipped to RawLimit
		want = append(want, rej)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v; want no rows lost", err)
	}
	if s := r.Stats().Tables[TableRejects]; s.Lost != 0 || s.Spilled != 3 {
		t.Fatalf("rejects %+v; want 3 spilled, none lost", s)
	}
	if !reflect.DeepEqual(ov.rejects, want) || len(ov.recs) != 0 {
		t.Fatalf("spilled rejects\n got %+v\nwant %+v", ov.rejects, want)
	}
}

package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

func TestFlushOnShutdown(t *testing.T) {
	_, pool := migratedDB(t)
	flushed := newFlushes()
	r := startWriter(t, Config{BatchSize: 10_000, FlushInterval: time.Hour, OnFlush: flushed.hook}, pool)
	for _, rec := range trades(1, 1234) {
		if err := r.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := count(t, pool, `SELECT count(*) FROM trades`); got != 1234 {
		t.Fatalf("%d rows after Run returned, want 1234", got)
	}
	res := flushed.next(t)
	if res.Trigger != FlushShutdown || res.Rows != 1234 || res.Inserted != 1234 {
		t.Fatalf("flush %+v; want one shutdown flush of 1234 rows", res)
	}
	if res.OldestReceived != t0.Add(time.Second+time.Millisecond) || res.NewestReceived != t0.Add(time.Second+1234*time.Millisecond) {
		t.Fatalf("received bounds %s .. %s", res.OldestReceived, res.NewestReceived)
	}
	if err := r.Write(t.Context(), trade(9999, "1", "1")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Run returned: %v, want ErrClosed", err)
	}
	if err := r.Reject(t.Context(), market.Reject{Reason: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reject after Run returned: %v, want ErrClosed", err)
	}
}

func TestFlushTriggers(t *testing.T) {
	_, pool := migratedDB(t)

	t.Run("by size", func(t *testing.T) {
		flushed := newFlushes()
		r := startWriter(t, Config{BatchSize: 10, FlushInterval: time.Hour, OnFlush: flushed.hook}, pool)
		for _, rec := range trades(100, 25) {
			if err := r.Write(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			if res := flushed.next(t); res.Trigger != FlushSize || res.Rows != 10 || res.Inserted != 10 {
				t.Fatalf("flush %d: %+v; want 10 rows by size", i, res)
			}
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if res := flushed.next(t); res.Trigger != FlushShutdown || res.Rows != 5 {
			t.Fatalf("last flush %+v; want the remaining 5 at shutdown", res)
		}
	})
	t.Run("by age", func(t *testing.T) {
		flushed := newFlushes()
		r := startWriter(t, Config{BatchSize: 1000, FlushInterval: 20 * time.Millisecond, OnFlush: flushed.hook}, pool)
		for _, rec := range trades(200, 3) {
			if err := r.Write(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
		}
		if res := flushed.next(t); res.Trigger != FlushAge || res.Rows != 3 || res.Inserted != 3 {
			t.Fatalf("flush %+v; want 3 rows by age", res)
		}
		if got := count(t, pool, `SELECT count(*) FROM trades WHERE trade_id::int BETWEEN 200 AND 299`); got != 3 {
			t.Fatalf("%d rows stored before shutdown, want 3", got)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBackpressure: while the table is locked, a flush cannot finish; the
// buffer and the queue fill and the next Write blocks until its context
// ends. Once the lock goes, everything accepted is stored.
func TestBackpressure(t *testing.T) {
	_, pool := migratedDB(t)
	lock, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(context.WithoutCancel(t.Context()))
	if _, err := lock.Exec(t.Context(), `LOCK TABLE trades IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	r := startWriter(t, Config{BatchSize: 1, QueueSize: 2, FlushInterval: time.Hour}, pool)
	recs := trades(1, 4)
	for _, rec := range recs[:3] { // one in the stuck flush, two queued
		if err := r.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := r.Write(ctx, recs[3]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write to a full queue: %v, want context.DeadlineExceeded", err)
	}
	if d := r.Stats().QueueDepth; d != 2 {
		t.Fatalf("queue depth %d, want 2", d)
	}

	if err := lock.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	await(t, "3 rows stored", func() bool { return r.Stats().Tables[TableTrades].Inserted == 3 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := count(t, pool, `SELECT count(*) FROM trades`); got != 3 {
		t.Fatalf("%d rows, want 3", got)
	}
}

// TestShutdownTimeout: rows that cannot be stored before the shutdown
// deadline are counted as lost and Run says so.
func TestShutdownTimeout(t *testing.T) {
	_, pool := migratedDB(t)
	lock, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(context.WithoutCancel(t.Context()))
	if _, err := lock.Exec(t.Context(), `LOCK TABLE trades IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	r := startWriter(t, Config{FlushInterval: time.Hour, ShutdownTimeout: 200 * time.Millisecond}, pool)
	for _, rec := range trades(1, 5) {
		if err := r.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.stop(); err == nil || !strings.Contains(err.Error(), "5 rows") {
		t.Fatalf("Run: %v; want an error counting 5 lost rows", err)
	}
	if s := r.Stats().Tables[TableTrades]; s.Lost != 5 || s.Inserted != 0 {
		t.Fatalf("stats %+v; want 5 lost", s)
	}
}

type otherRecord struct{ market.Meta }

func (otherRecord) DataType() market.DataType { return "other" }
func (otherRecord) Stream() market.Stream     { return market.Stream{} }

func TestWriteUnsupported(t *testing.T) {
	_, pool := migratedDB(t)
	w, err := New(Config{}, pool, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []market.Record{nil, &otherRecord{}} {
		if err := w.Write(t.Context(), rec); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Write(%T): %v, want ErrUnsupported", rec, err)
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		check   func(Config) bool
	}{
		{name: "defaults", cfg: Config{}, check: func(c Config) bool {
			return c.BatchSize == DefaultBatchSize && c.FlushInterval == DefaultFlushInterval &&
				c.QueueSize == DefaultQueueSize && c.RetryMin == DefaultRetryMin && c.RetryMax == DefaultRetryMax &&
				c.ShutdownTimeout == DefaultShutdownTimeout && c.RawLimit == DefaultRawLimit &&
				c.RejectsPerSecond == DefaultRejectsPerSecond && c.RejectsBurst == DefaultRejectsPerSecond
		}},
		{name: "burst follows the rate", cfg: Config{RejectsPerSecond: 0.5}, check: func(c Config) bool {
			return c.RejectsBurst == 1
		}},
		{name: "negative raw limit keeps none", cfg: Config{RawLimit: -1}, check: func(c Config) bool { return c.RawLimit == -1 }},
		{name: "negative batch", cfg: Config{BatchSize: -1}, wantErr: "BatchSize is -1"},
		{name: "negative interval", cfg: Config{FlushInterval: -time.Second}, wantErr: "FlushInterval is -1s"},
		{name: "retry bounds crossed", cfg: Config{RetryMin: time.Minute, RetryMax: time.Second}, wantErr: "RetryMax 1s is below RetryMin 1m0s"},
		{name: "negative rate", cfg: Config{RejectsPerSecond: -1}, wantErr: "RejectsPerSecond is -1"},
		{name: "several at once", cfg: Config{QueueSize: -1, RejectsBurst: -2}, wantErr: "QueueSize is -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(got) {
				t.Fatalf("withDefaults() = %+v, %v", got, err)
			}
		})
	}
	if _, err := New(Config{}, nil, nil); err == nil {
		t.Fatal("New without a pool succeeded")
	}
}

// TestTryWriteWithin: a record that finds its queue full waits for room up
// to the given time; it is queued once a flush frees room, and refused
// (nothing queued) when none comes.
func TestTryWriteWithin(t *testing.T) {
	_, pool := migratedDB(t)
	lock, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(context.WithoutCancel(t.Context()))
	if _, err := lock.Exec(t.Context(), `LOCK TABLE trades IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	r := startWriter(t, Config{BatchSize: 1, QueueSize: 2, FlushInterval: time.Hour}, pool)
	recs := trades(1, 4)
	for _, rec := range recs[:3] { // one in the stuck flush, two queued
		if err := r.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if queued, err := r.TryWriteWithin(recs[3], 0); queued || err != nil {
		t.Fatalf("TryWriteWithin a full queue without waiting: queued %t, %v", queued, err)
	}
	if queued, err := r.TryWriteWithin(recs[3], 20*time.Millisecond); queued || err != nil {
		t.Fatalf("TryWriteWithin a queue that stays full: queued %t, %v", queued, err)
	}
	if d := r.Stats().QueueDepth; d != 2 {
		t.Fatalf("queue depth %d, want 2", d)
	}

	// Room comes when the table is free again and the flush goes through.
	done := make(chan error, 1)
	go func() {
		queued, err := r.TryWriteWithin(recs[3], time.Hour)
		if err == nil && !queued {
			err = errors.New("not queued")
		}
		done <- err
	}()
	if err := lock.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("TryWriteWithin while the queue drains: %v", err)
	}
	await(t, "4 rows stored", func() bool { return r.Stats().Tables[TableTrades].Inserted == 4 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

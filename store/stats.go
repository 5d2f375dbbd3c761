package store

import (
	"maps"
	"time"
)

// Stats is a snapshot of a Writer's counters since New.
type Stats struct {
	// Tables maps a table name (TableTrades, ...) to its counters.
	Tables map[string]TableStats
	// RejectsStored counts rows committed to the rejects table: rejects
	// passed to Reject and rows the database refused.
	RejectsStored uint64
	// RejectsDropped counts rejects beyond the rejects rate, counted but not
	// stored; DroppedByReason splits them by reason.
	RejectsDropped  uint64
	DroppedByReason map[string]uint64
	// QueueDepth is the number of records queued in all tables.
	QueueDepth int
}

// TableStats counts what happened to one table's rows.
type TableStats struct {
	// Inserted counts new rows.
	Inserted uint64
	// Updated counts stored candles replaced by a newer forming version or
	// a closed one (always 0 for other tables).
	Updated uint64
	// Skipped counts rows already stored: duplicates, and candle versions
	// that were older than, or identical to, the stored one.
	Skipped uint64
	// Rejected counts rows the database refused (each kept in rejects
	// within the rejects rate) or that cannot be represented (ReasonUnstorable).
	Rejected uint64
	// Lost counts rows given up because the shutdown deadline passed.
	Lost uint64
	// Spilled counts rows not stored by the shutdown deadline and handed
	// to Config.Overflow (the spool) instead.
	Spilled uint64
	// Flushes counts batches handled; Retries counts failed attempts that
	// were retried.
	Flushes uint64
	Retries uint64
	// Queued is the number of records waiting in the table's queue.
	Queued int
}

// Stats returns a snapshot of the counters. It does not block the Writer.
func (w *Writer) Stats() Stats {
	s := Stats{
		Tables:         make(map[string]TableStats, len(w.lanes)),
		RejectsStored:  w.rejectsStored.Load(),
		RejectsDropped: w.rejectsDropped.Load(),
	}
	for _, l := range w.lanes {
		ts := l.stats()
		s.Tables[l.name()] = ts
		s.QueueDepth += ts.Queued
	}
	w.dropMu.Lock()
	s.DroppedByReason = maps.Clone(w.droppedByReason)
	w.dropMu.Unlock()
	return s
}

// FlushTrigger says why a batch was flushed.
type FlushTrigger string

// The flush triggers.
const (
	FlushSize     FlushTrigger = "size"     // the batch reached Config.BatchSize
	FlushAge      FlushTrigger = "age"      // its oldest row reached Config.FlushInterval
	FlushShutdown FlushTrigger = "shutdown" // the final drain
	FlushSync     FlushTrigger = "sync"     // Writer.Sync waited for it (the spool's replay)
)

// FlushResult describes one handled batch, for Config.OnFlush.
type FlushResult struct {
	Table   string
	Trigger FlushTrigger
	// Rows is the batch size; Inserted, Updated, Skipped, Rejected, Lost
	// and Spilled add up to it (see TableStats).
	Rows                                                int
	Inserted, Updated, Skipped, Rejected, Lost, Spilled int
	// Retries counts failed attempts that were retried.
	Retries int
	// Duration is the time from the start of the flush to its commit
	// (including retries).
	Duration time.Duration
	// OldestReceived and NewestReceived bound the batch's receipt times
	// (Meta.Received): now minus OldestReceived is the batch's worst
	// receipt-to-commit latency.
	OldestReceived, NewestReceived time.Time
	// Received holds the receipt time (Meta.Received) of each row of the
	// batch, in batch order, for per-row latency measurements. It is set
	// only for Config.OnFlush and is valid only during that call: the
	// lane reuses it for the next batch.
	Received []time.Time
}

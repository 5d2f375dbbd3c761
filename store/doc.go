// Package store keeps market records in PostgreSQL (or TimescaleDB).
//
// Writer buffers validated records per table and flushes a table when its
// batch reaches a size or an age, whichever comes first. A flush encodes the
// batch as one binary COPY stream (copy.go, numeric written straight from
// the decimal's digits) and copies it straight into the target; a large
// batch of a table whose rows may be stored in any order is split among
// Config.CopyWriters connections. A batch that holds a key already stored
// or repeated (unique_violation) is copied into a temporary staging table
// instead and merged into the target with INSERT ... SELECT ... ON
// CONFLICT on the natural key, in one transaction on one connection, so a
// replayed or overlapping batch never creates a duplicate. Candles are upserted (a forming candle is replaced by
// later updates and by its closed version, never the reverse); every other
// table keeps the first copy of a row. Transient failures are retried with
// capped, jittered exponential backoff and the batch is kept; a row the
// database refuses for good is isolated by bisecting the batch and kept in
// the rejects table with its SQLSTATE. Queues are bounded: a full queue
// blocks the producer under its context.
//
// Migrator applies the embedded schema (package migrations); Open opens a
// connection pool. SCHEMA.md describes every table and column.
package store

// Package spool keeps records on local disk while the database cannot take
// them, and hands them back to the store when it can.
//
// A Spool is a directory of append-only segment files (000001.spool,
// 000002.spool, ...). Each record is one frame: a 4-byte marker, the
// payload length and the payload's CRC-32C (Castagnoli), then the payload,
// the record in a compact binary encoding with a version byte (decimals
// keep their exact coefficient and scale; times keep their nanoseconds).
// A damaged frame is skipped and counted, and reading resumes at the next
// marker; an incomplete frame at the end of a segment (a torn write after a
// crash) is cut off when the spool is opened.
//
// Beside each segment an index (000001.idx) keeps the streams of its
// records and their time bounds, so that records lost to damage, and
// segments that cannot be read, are reported as gaps
// (market.GapSpoolCorrupt) for the backfill to repair. Unless the fsync
// policy is never, the directory is fsynced after a segment or index is
// created, renamed or removed.
//
// A Buffer sits in front of the store writer: records go to the writer's
// bounded memory queue while it has room, to the spool when it is full,
// and are dropped, counted and reported as gaps when the spool has reached
// its size cap or the disk refuses them (a full or failing disk: records
// Append refused, and those a failed write lost from the write buffer,
// become market.GapSpoolError gaps). Buffer.Run replays the spool through the writer, segment by
// segment, and deletes a segment only once every row of it is committed.
package spool

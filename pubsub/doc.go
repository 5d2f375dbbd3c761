// Package pubsub is marketetl's live feed: every record that passed
// validation is published on Redis pub/sub, as versioned JSON, on a channel
// per exchange, type and symbol, while the store writes it to the database.
//
// The feed is at-most-once. A Publisher never slows the collectors or the
// database path: Publish only puts the record on a bounded queue, and one
// writer (Run) pipelines the queue to Redis, without waiting for replies,
// while a reader matches the replies to the records. When the
// queue is full or Redis is down, records are dropped and counted by
// reason; the database stays the system of record. Optionally each record is
// also appended to a capped Redis stream, so that a consumer that reconnects
// can catch up.
//
// Encode and Decode are the payload codec (schema version 1, see README.md);
// Tail prints the feed, for `etl tail`.
package pubsub

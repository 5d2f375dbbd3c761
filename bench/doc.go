// Package bench is the end-to-end benchmark behind `etl bench` and
// `make bench`: it measures the collector → pipeline → store → Redis path
// against a local frame server that streams a pre-generated workload in an
// exchange's real JSON format, and compares it, in the same run, with
// PostgreSQL's own COPY and with a naive one-INSERT-per-row baseline.
//
// The frame server runs in a child process (Serve), so that the CPU time
// and peak RSS measured in the benchmark's own process are the service's.
// The service itself is built by the caller (cmd/etl, with package service,
// as `etl run` builds it) through a BuildFunc; this package only drives and measures it.
//
// The phases, in order:
//
//  1. throughput: the server writes as fast as the client reads (TCP
//     backpressure); the sustained rate is measured after a warm-up, up to
//     the moment every sent record is both committed and published, and
//     the table's row count must equal the records sent;
//  2. latency: a fixed offered rate; receipt → publish and receipt →
//     commit per record, in HDR histograms;
//  3. burst: ten times the fixed rate for a while; loss, disconnects,
//     pings answered and peak RSS;
//  4. copy: the throughput phase's rows, read back, loaded again by pgx
//     CopyFrom (and by psql \copy from CSV when psql is installed) into the
//     truncated tables: the database's own limit;
//  5. naive: a sample of the same rows inserted one statement per row.
//
// Nothing here asserts a speed: the tests check correctness only.
package bench

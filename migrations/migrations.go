// Package migrations holds marketetl's database schema as golang-migrate
// migrations, embedded in the binary. Package store applies them (etl
// migrate up|down|version|force N).
//
// Every file is one transaction. The schema works on plain PostgreSQL; when
// the TimescaleDB extension can be used, the time-series tables also become
// hypertables with compression policies. store/SCHEMA.md documents every
// table and column.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed *.sql
var files embed.FS

// FS returns the migration files (NNNNNN_name.up.sql and .down.sql), for
// golang-migrate's iofs source.
func FS() fs.FS { return files }

package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"go.uber.org/zap"

	"marketetl/store"
)

// migrateUsage is etl migrate's help.
const migrateUsage = `Usage: etl migrate up|down|version|force N

  up         apply every pending migration
  down       revert every migration: removes everything they created (data included)
  version    print the schema version
  force N    set the schema version to N without running migrations
             (after fixing a dirty schema by hand)

The database is DATABASE_URL's.
`

// cmdMigrate manages the schema: up, down, version, force N. --help (or
// -h) prints its help without touching the database.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: etl migrate up|down|version|force N", errUsage)
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, migrateUsage)
		return nil
	}
	cfg, log, closeLog, err := loadConfig()
	if err != nil {
		return err
	}
	defer closeLog()
	m, err := store.NewMigrator(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer m.Close()
	switch {
	case args[0] == "up" && len(args) == 1:
		if err := m.Up(ctx); err != nil {
			return err
		}
	case args[0] == "down" && len(args) == 1:
		if err := m.Down(ctx); err != nil {
			return err
		}
	case args[0] == "force" && len(args) == 2:
		v, err := strconv.Atoi(args[1])
		if err != nil {
			return fmt.Errorf("%w: force takes a version number, got %q", errUsage, args[1])
		}
		if err := m.Force(ctx, v); err != nil {
			return err
		}
	case args[0] == "version" && len(args) == 1:
	default:
		return fmt.Errorf("%w: etl migrate up|down|version|force N", errUsage)
	}
	v, dirty, err := m.Version(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d", v)
	if dirty {
		fmt.Fprint(stdout, " (dirty: fix the schema by hand, then `etl migrate force N`)")
	}
	fmt.Fprintln(stdout)
	return nil
}

// isHelp reports whether arg asks for a command's help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// migrateUp applies pending migrations.
func migrateUp(ctx context.Context, databaseURL string, log *zap.Logger) error {
	return store.Migrate(ctx, databaseURL, log)
}

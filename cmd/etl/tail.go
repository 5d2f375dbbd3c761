package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"marketetl/config"
	"marketetl/pubsub"
)

// cmdTail prints the live feed: each message on one line, human-readable,
// or the raw JSON with --json.
func cmdTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	raw := fs.Bool("json", false, "print each message's JSON payload as is")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg, err := config.Load(config.LookupEnv)
	if err != nil {
		return err
	}
	pattern := cfg.RedisChannelPrefix + ":*"
	switch fs.NArg() {
	case 0:
	case 1:
		pattern = fs.Arg(0)
	default:
		return fmt.Errorf("%w: etl tail [--json] [pattern]", errUsage)
	}
	return pubsub.Tail(ctx, cfg.RedisURL, pattern, stdout, *raw)
}

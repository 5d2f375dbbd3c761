// Command etl is marketetl's one binary: it runs the collectors (run), the
// one-command demo (demo), schema migrations (migrate), the simulated
// exchange (sim), a live-feed viewer (tail) and prints the environment
// template (env).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

const usage = `etl — marketetl: crypto market data into PostgreSQL/TimescaleDB and Redis

Usage:
  etl run [--migrate]          run the collectors of ETL_CONFIG until SIGINT/SIGTERM
  etl demo [--duration D]      simulated exchange + collectors for all three exchanges
  etl migrate up|down|version|force N
                               manage the schema in DATABASE_URL
  etl sim [--addr A]           run the simulated exchange alone
  etl tail [--json] [pattern]  print the live feed (default pattern md:*)
  etl env                      print the environment template (env.template)
  etl backfill --exchange E --symbol S --type trade|candle [--timeframe 1m]
               --from RFC3339 --to RFC3339 [--after-id N --before-id N]
                               fill a window of one stream from the exchange's REST history
  etl bench [--quick] [--records N] [--exchange E] [--out F] [--cpuprofile F]
                               end-to-end benchmark against local PostgreSQL and Redis

Configuration is read from the environment; see env.template and README.md.
`

func main() {
	tuneGC(os.LookupEnv, memlimit.FromCgroup)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a command-line mistake: exit status 2.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr)
	case "sim":
		err = cmdSim(ctx, args[1:], stdout, stderr)
	case "tail":
		err = cmdTail(ctx, args[1:], stdout, stderr)
	case "backfill":
		err = cmdBackfill(ctx, args[1:], stdout, stderr)
	case "env":
		err = cmdEnv(stdout, args[1:])
	case "bench":
		err = cmdBench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "etl: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0 // the flag set has printed the command's flags
	}
	if err != nil {
		fmt.Fprintf(stderr, "etl %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"marketetl/sim"
)

// cmdSim runs the simulated exchange alone and prints the endpoint
// variables that point marketetl at it.
func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9500", "listen address")
	rate := fs.Float64("rate", 10, "ticks per second (one trade in every market per tick; 0: none)")
	seed := fs.Int64("seed", 1, "random-walk seed")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	_, log, closeLog, err := loadConfig()
	if err != nil {
		return err
	}
	defer closeLog()
	s, err := sim.New(sim.Config{Addr: *addr, Rate: *rate, Seed: *seed}, log.Named("sim"))
	if err != nil {
		return err
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simulated exchange on %s; point marketetl at it with:\n", *addr)
	for _, kv := range endpointVars(ep) {
		fmt.Fprintf(stdout, "  export %s=%s\n", kv[0], kv[1])
	}
	return s.Run(ctx)
}

// endpointVars lists the environment variables for ep.
func endpointVars(ep sim.Endpoints) [][2]string {
	return [][2]string{
		{"OKX_WS_PUBLIC_URL", ep.OKXPublicWS}, {"OKX_WS_BUSINESS_URL", ep.OKXBusinessWS}, {"OKX_REST_URL", ep.OKXREST},
		{"BINANCE_WS_URL", ep.BinanceWS}, {"BINANCE_REST_URL", ep.BinanceREST},
		{"COINBASE_WS_URL", ep.CoinbaseWS}, {"COINBASE_REST_URL", ep.CoinbaseREST},
		{"KRAKEN_WS_URL", ep.KrakenWS}, {"KRAKEN_REST_URL", ep.KrakenREST},
	}
}

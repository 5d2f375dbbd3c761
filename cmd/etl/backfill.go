package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"marketetl/backfill"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/service"
	"marketetl/store"
)

// backfillRequest is what etl backfill was asked to fill.
type backfillRequest struct {
	gap   market.Gap
	every time.Duration
}

// parseBackfillArgs reads the flags of etl backfill; errors name the flag
// to fix.
func parseBackfillArgs(args []string, stderr io.Writer) (backfillRequest, error) {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	exchange := fs.String("exchange", "", "exchange: okx, binance or coinbase (required)")
	symbol := fs.String("symbol", "", "symbol, BASE-QUOTE, e.g. BTC-USDT (required)")
	typ := fs.String("type", "", "data type: trade or candle (required)")
	tf := fs.String("timeframe", "1m", "candle timeframe (with --type candle)")
	from := fs.String("from", "", "start of the window, RFC 3339, e.g. 2024-05-01T10:00:00Z (required): records after it are filled")
	to := fs.String("to", "", "end of the window, RFC 3339 (required): records before it are filled")
	afterID := fs.Int64("after-id", 0, "trades only: fill trade ids greater than this (with --before-id)")
	beforeID := fs.Int64("before-id", 0, "trades only: fill trade ids less than this (with --after-id)")
	every := fs.Duration("progress", 2*time.Second, "progress period on stderr")
	if err := fs.Parse(args); err != nil {
		return backfillRequest{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return backfillRequest{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	bad := func(format string, a ...any) (backfillRequest, error) {
		return backfillRequest{}, fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
	}
	var g market.Gap
	g.Reason = market.GapManual
	g.Stream.Exchange = market.Exchange(strings.ToLower(*exchange))
	if !g.Stream.Exchange.Known() {
		return bad("--exchange %q: want one of %v", *exchange, market.Exchanges())
	}
	sym, err := market.ParseSymbol(*symbol)
	if err != nil {
		return bad("--symbol %q: %v (want BASE-QUOTE, e.g. BTC-USDT)", *symbol, err)
	}
	g.Stream.Symbol = sym
	switch market.DataType(*typ) {
	case market.TypeTrade:
		g.Stream.Type = market.TypeTrade
	case market.TypeCandle:
		g.Stream.Type = market.TypeCandle
		t, err := market.ParseTimeframe(*tf)
		if err != nil {
			return bad("--timeframe %q: %v", *tf, err)
		}
		g.Stream.Timeframe = t
	default:
		return bad("--type %q: want trade or candle", *typ)
	}
	if g.From, err = time.Parse(time.RFC3339Nano, *from); err != nil {
		return bad("--from %q: want an RFC 3339 time such as 2024-05-01T10:00:00Z", *from)
	}
	if g.To, err = time.Parse(time.RFC3339Nano, *to); err != nil {
		return bad("--to %q: want an RFC 3339 time such as 2024-05-01T11:00:00Z", *to)
	}
	g.From, g.To = g.From.UTC(), g.To.UTC()
	if !g.To.After(g.From) {
		return bad("--to %s must be after --from %s", *to, *from)
	}
	if (*afterID != 0 || *beforeID != 0) && g.Stream.Type != market.TypeTrade {
		return bad("--after-id and --before-id are for --type trade")
	}
	if (*afterID > 0) != (*beforeID > 0) || *afterID < 0 || *beforeID < 0 {
		return bad("give both --after-id and --before-id (positive), or neither")
	}
	if *afterID > 0 && *beforeID <= *afterID+1 {
		return bad("--before-id %d must be at least --after-id + 2 for a trade to be missing", *beforeID)
	}
	g.AfterID, g.BeforeID = *afterID, *beforeID
	if *every <= 0 {
		return bad("--progress %v: must be positive", *every)
	}
	return backfillRequest{gap: g, every: *every}, nil
}

// cmdBackfill fills one window of one stream by hand, with the same engine
// as the service: it records the gap (reason manual), fills it from the
// exchange's REST history through validation and the store, shows progress
// on stderr and prints a summary.
func cmdBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	req, err := parseBackfillArgs(args, stderr)
	if err != nil {
		return err
	}
	cfg, log, closeLog, err := loadConfig()
	if err != nil {
		return err
	}
	defer closeLog()
	cfg.RedisEnabled = false // backfilled rows are not published
	cfg.BackfillEnabled = true
	// The spool belongs to the running service (one process at a time):
	// the backfill writes straight to the database and waits for it.
	cfg.SpoolDir = ""
	pool, err := service.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	prog := &progressLine{w: stderr, gap: req.gap, tty: isTerminal(stderr), start: time.Now()}
	svc, err := service.New(cfg, pool, exchange.Registry(), service.WithLogger(log),
		service.WithoutSupervisor(), service.WithManualBackfill(prog.update))
	if err != nil {
		return err
	}
	return runManualBackfill(ctx, svc, req, prog, stdout)
}

// runManualBackfill runs the fill and the store writer, then prints the
// summary.
func runManualBackfill(ctx context.Context, svc *service.Service, req backfillRequest, prog *progressLine, stdout io.Writer) error {
	table := store.TableTrades
	if req.gap.Stream.Type == market.TypeCandle {
		table = store.TableCandles
	}
	before := svc.Writer().Stats().Tables[table]
	var res backfill.Result
	err := svc.RunWith(ctx, func(ctx context.Context) error {
		pctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { prog.run(pctx, req.every) })
		var ferr error
		res, ferr = svc.Filler().Fill(ctx, req.gap)
		stop()
		wg.Wait()
		return ferr
	})
	prog.done()
	// The writer has drained: its counters are final.
	after := svc.Writer().Stats().Tables[table]
	rejected := svc.BackfillPipeline().Counts().Rejected
	var nRejected uint64
	for _, n := range rejected {
		nRejected += n
	}
	elapsed := time.Since(prog.start)
	fmt.Fprintf(stdout, "backfill %s %s..%s", req.gap.Stream, req.gap.From.Format(time.RFC3339Nano), req.gap.To.Format(time.RFC3339Nano))
	if req.gap.HasIDs() {
		fmt.Fprintf(stdout, " trade ids %d..%d", req.gap.AfterID, req.gap.BeforeID)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "  gap:            %d, status %s\n", res.GapID, statusOrUnknown(res.Status))
	fmt.Fprintf(stdout, "  requests:       %d (%d rate-limited)\n", res.Pages, res.Throttled)
	fmt.Fprintf(stdout, "  rows fetched:   %d\n", res.Rows)
	fmt.Fprintf(stdout, "  stored new:     %d\n", after.Inserted+after.Updated-before.Inserted-before.Updated)
	fmt.Fprintf(stdout, "  duplicates:     %d (already stored, skipped)\n", after.Skipped-before.Skipped)
	fmt.Fprintf(stdout, "  rejected:       %d (validation), %d (database)\n", nRejected, after.Rejected-before.Rejected)
	fmt.Fprintf(stdout, "  duration:       %s\n", elapsed.Round(time.Millisecond))
	for _, p := range res.Unfillable {
		fmt.Fprintf(stdout, "  unfillable:     %s..%s: %s (%s)\n", p.Gap.From.Format(time.RFC3339Nano), p.Gap.To.Format(time.RFC3339Nano), p.Reason, p.Detail)
	}
	if res.Err != nil {
		fmt.Fprintf(stdout, "  last error:     %v (the gap stays open and is retried by etl run)\n", res.Err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted; gap %d stays open and is resumed by etl run", res.GapID)
	}
	return err
}

func statusOrUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressLine shows the fill's progress: a bar redrawn in place on a
// terminal, periodic plain lines otherwise.
type progressLine struct {
	w     io.Writer
	gap   market.Gap
	tty   bool
	start time.Time

	mu   sync.Mutex
	last backfill.Progress
	seen bool
}

// update is the filler's OnProgress hook.
func (p *progressLine) update(pr backfill.Progress) {
	p.mu.Lock()
	p.last, p.seen = pr, true
	p.mu.Unlock()
}

func (p *progressLine) run(ctx context.Context, every time.Duration) {
	if p.tty {
		every = min(every, 200*time.Millisecond)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.print()
		}
	}
}

func (p *progressLine) print() {
	p.mu.Lock()
	pr, seen := p.last, p.seen
	p.mu.Unlock()
	if !seen {
		return
	}
	el := time.Since(p.start)
	rate := float64(pr.Rows) / max(el.Seconds(), 0.001)
	frac := 0.0
	if span := p.gap.To.Sub(p.gap.From); span > 0 && !pr.Position.IsZero() {
		frac = min(max(float64(pr.Position.Sub(p.gap.From))/float64(span), 0), 1)
	}
	if p.tty {
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %d pages, %d rows, at %s, %.0f rows/s ", strings.Repeat("=", n), strings.Repeat(" ", width-n),
			frac*100, pr.Pages, pr.Rows, pr.Position.UTC().Format(time.RFC3339), rate)
		return
	}
	fmt.Fprintf(p.w, "backfill: %d pages, %d rows, at %s (%.0f%%), %.0f rows/s\n", pr.Pages, pr.Rows, pr.Position.UTC().Format(time.RFC3339), frac*100, rate)
}

// done prints the final state and ends the bar's line.
func (p *progressLine) done() {
	p.print()
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

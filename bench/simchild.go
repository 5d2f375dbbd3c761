package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"marketetl/market"
	"marketetl/sim"
)

// The symbols mode drives the simulated exchange (package sim), which
// honours subscriptions and keeps a record of everything it sent, in a
// child process: its CPU and memory are not the service's. The two talk
// in JSON lines: the plan, then one command and one answer at a time.

// SimPlan sets up the simulated exchange of the symbols mode.
type SimPlan struct {
	// Markets is the number of markets of each exchange.
	Markets map[market.Exchange]int `json:"markets"`
	// Step is how far exchange time advances per tick (one trade in every
	// market); the child ticks at one per Step of wall time.
	Step time.Duration `json:"step"`
	Seed int64         `json:"seed"`
	// Tickers and Candles say whether the service collects tickers and
	// 1m candles: what the exchange sends of them is then expected in
	// the database.
	Tickers bool `json:"tickers"`
	Candles bool `json:"candles"`
}

// simCommand is one request to the child.
type simCommand struct {
	// Op: subscribed (wait until every one of Streams is subscribed),
	// run (Ticks ticks, one per Step of wall time), drop (close every
	// connection at the TCP level), verify (compare the database at
	// DatabaseURL with what was sent), counts (what was sent so far).
	Op          string          `json:"op"`
	Streams     []market.Stream `json:"streams,omitempty"`
	Ticks       int             `json:"ticks,omitempty"`
	DatabaseURL string          `json:"database_url,omitempty"`
}

// simAnswer is the child's answer to one command.
type simAnswer struct {
	Err       string        `json:"err,omitempty"`
	Endpoints sim.Endpoints `json:"endpoints"`
	Dropped   int           `json:"dropped,omitempty"`
	Sent      SentCounts    `json:"sent"`
	Verify    *Verification `json:"verify,omitempty"`
	// Conns are the open WebSocket connections per exchange.
	Conns map[market.Exchange]int `json:"conns,omitempty"`
}

// SentCounts are the rows the database must end up with for what the
// simulated exchange sent: every trade, one ticker per distinct time, and
// every closed 1m candle of OKX and Binance (which stream them) plus each
// market's forming one.
type SentCounts struct {
	Trades  int64 `json:"trades"`
	Tickers int64 `json:"tickers"`
	Candles int64 `json:"candles"`
}

// Verification compares the database with what was sent, value for value
// for trades and closed candles, by count for tickers.
type Verification struct {
	Sent   SentCounts `json:"sent"`
	Stored SentCounts `json:"stored"`
	// MissingTrades are sent but not stored; WrongTrades stored with
	// another price, size, side or time; ExtraTrades stored but never
	// sent. WrongCandles are closed candles stored with other values.
	MissingTrades int64 `json:"missing_trades"`
	WrongTrades   int64 `json:"wrong_trades"`
	ExtraTrades   int64 `json:"extra_trades"`
	WrongCandles  int64 `json:"wrong_candles"`
	// BookSnapshots are the book_snapshots rows; BookResyncs the
	// book_resync gap rows.
	BookSnapshots int64 `json:"book_snapshots"`
	BookResyncs   int64 `json:"book_resyncs"`
}

// Exact reports whether the database holds exactly what was sent.
func (v *Verification) Exact() bool {
	return v.Sent == v.Stored && v.MissingTrades == 0 && v.WrongTrades == 0 && v.ExtraTrades == 0 && v.WrongCandles == 0
}

// simExchanges are the exchanges of the symbols mode.
var simExchanges = []market.Exchange{market.OKX, market.Binance, market.Coinbase}

// simMarkets returns n markets of ex named by three letters (AAA-USDT,
// AAB-USDT, ...; USD on Coinbase), each with its own price.
func simMarkets(ex market.Exchange, n int, seed int64) []sim.Market {
	quote := "USDT"
	if ex == market.Coinbase {
		quote = "USD"
	}
	r := rand.New(rand.NewPCG(uint64(seed), uint64(len(ex))))
	out := make([]sim.Market, n)
	for i := range n {
		base := []byte{byte('A' + i/676%26), byte('A' + i/26%26), byte('A' + i%26)}
		price := decimal.NewFromInt(int64(10 + r.IntN(50000)))
		out[i] = sim.Market{Symbol: market.Symbol(string(base) + "-" + quote), Price: price, PriceDecimals: 2, SizeDecimals: 6}
	}
	return out
}

// ServeSim is the child process of the symbols mode: it reads a SimPlan
// line from in, starts the simulated exchange on a loopback port, writes
// the endpoints, then answers commands until in ends.
func ServeSim(ctx context.Context, in io.Reader, out io.Writer, log *zap.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	if !sc.Scan() {
		return fmt.Errorf("simulated exchange: no plan: %w", errors.Join(sc.Err(), io.ErrUnexpectedEOF))
	}
	var plan SimPlan
	if err := json.Unmarshal(sc.Bytes(), &plan); err != nil {
		return fmt.Errorf("simulated exchange: plan: %w", err)
	}
	if plan.Step <= 0 {
		plan.Step = time.Second
	}
	markets := map[market.Exchange][]sim.Market{}
	for ex, n := range plan.Markets {
		markets[ex] = simMarkets(ex, n, plan.Seed)
	}
	start := time.Now().UTC().Truncate(time.Second).Add(-time.Second)
	s, err := sim.New(sim.Config{
		Seed: plan.Seed, Markets: markets, Timeframes: []market.Timeframe{market.TF1m},
		Start: start, Step: plan.Step, SendQueue: 1 << 16,
	}, log)
	if err != nil {
		return err
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = s.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	enc := json.NewEncoder(out)
	if err := enc.Encode(simAnswer{Endpoints: ep}); err != nil {
		return err
	}
	for sc.Scan() {
		var cmd simCommand
		var ans simAnswer
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			return fmt.Errorf("simulated exchange: command: %w", err)
		}
		switch cmd.Op {
		case "subscribed":
			for _, st := range cmd.Streams {
				if err := s.WaitSubscribed(ctx, st); err != nil {
					return err
				}
			}
		case "run":
			t := time.NewTicker(plan.Step)
			for range cmd.Ticks {
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
				if err := s.Step(ctx, 1); err != nil {
					t.Stop()
					return err
				}
			}
			t.Stop()
		case "drop":
			// Every connection is closed at once; the answer comes once
			// the exchange has forgotten them (and their subscriptions).
			for _, ex := range simExchanges {
				ans.Dropped += s.DropConnections(ex)
			}
			// The collectors redial after RECONNECT_DELAY (2.5 s at
			// least by default): long before, the last dropped connection
			// is gone. Were a new one to come first, the count would not
			// reach 0 and the measurement could not start cleanly.
			wctx, cancelWait := context.WithTimeout(ctx, 30*time.Second)
			for _, ex := range simExchanges {
				if err := s.WaitConnections(wctx, ex, 0); err != nil {
					ans.Err = fmt.Sprintf("the dropped connections were not all gone before new ones came (RECONNECT_DELAY too short to measure the resubscription): %v", err)
					break
				}
			}
			cancelWait()
		case "counts":
		case "verify":
			v, err := verify(ctx, s, plan, cmd.DatabaseURL)
			if err != nil {
				ans.Err = err.Error()
			}
			ans.Verify = v
		default:
			ans.Err = fmt.Sprintf("unknown command %q", cmd.Op)
		}
		ans.Sent = sent(s, plan)
		ans.Conns = map[market.Exchange]int{}
		for _, ex := range simExchanges {
			ans.Conns[ex] = s.Connections(ex)
		}
		if err := enc.Encode(ans); err != nil {
			return err
		}
	}
	cancel()
	wg.Wait()
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return sc.Err()
}

// sent counts what the simulated exchange sent (see SentCounts).
func sent(s *sim.Sim, plan SimPlan) SentCounts {
	var c SentCounts
	for _, ex := range simExchanges {
		for _, sym := range s.Symbols(ex) {
			c.Trades += int64(len(s.Trades(ex, sym)))
			if plan.Tickers {
				seen := map[time.Time]bool{}
				for _, tk := range s.Tickers(ex, sym) {
					seen[tk.Time] = true
				}
				c.Tickers += int64(len(seen))
			}
			if plan.Candles && ex != market.Coinbase {
				c.Candles += int64(len(s.ClosedCandles(ex, sym, market.TF1m)))
				if _, ok := s.FormingCandle(ex, sym, market.TF1m); ok {
					c.Candles++
				}
			}
		}
	}
	return c
}

// verify compares the database with what s sent.
func verify(ctx context.Context, s *sim.Sim, plan SimPlan, dbURL string) (*Verification, error) {
	v := &Verification{Sent: sent(s, plan)}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return v, fmt.Errorf("verify: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	type tradeKey struct {
		ex  market.Exchange
		sym market.Symbol
		id  string
	}
	want := map[tradeKey]market.Trade{}
	for _, ex := range simExchanges {
		for _, sym := range s.Symbols(ex) {
			for _, tr := range s.Trades(ex, sym) {
				want[tradeKey{ex, sym, tr.TradeID}] = tr
			}
		}
	}
	rows, err := conn.Query(ctx, "SELECT exchange, symbol, trade_id, ts, price::text, size::text, side FROM trades")
	if err != nil {
		return v, fmt.Errorf("verify: read trades: %w", err)
	}
	for rows.Next() {
		var ex, sym, id, px, sz, side string
		var ts time.Time
		if err := rows.Scan(&ex, &sym, &id, &ts, &px, &sz, &side); err != nil {
			rows.Close()
			return v, fmt.Errorf("verify: read trades: %w", err)
		}
		v.Stored.Trades++
		k := tradeKey{market.Exchange(ex), market.Symbol(sym), id}
		tr, ok := want[k]
		if !ok {
			v.ExtraTrades++
			continue
		}
		delete(want, k)
		p, err1 := decimal.NewFromString(px)
		z, err2 := decimal.NewFromString(sz)
		if err1 != nil || err2 != nil || !p.Equal(tr.Price) || !z.Equal(tr.Size) || side != string(tr.Side) || !ts.Equal(tr.Time) {
			v.WrongTrades++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return v, fmt.Errorf("verify: read trades: %w", err)
	}
	v.MissingTrades = int64(len(want))

	type candleKey struct {
		ex  market.Exchange
		sym market.Symbol
		ts  time.Time
	}
	closed := map[candleKey]market.Candle{}
	for _, ex := range simExchanges[:2] {
		for _, sym := range s.Symbols(ex) {
			for _, cd := range s.ClosedCandles(ex, sym, market.TF1m) {
				closed[candleKey{ex, sym, cd.Time}] = cd
			}
		}
	}
	rows, err = conn.Query(ctx, `SELECT exchange, symbol, ts, open::text, high::text, low::text, close::text, volume::text, closed
		FROM candles WHERE timeframe = '1m' AND exchange <> 'coinbase'`)
	if err != nil {
		return v, fmt.Errorf("verify: read candles: %w", err)
	}
	for rows.Next() {
		var ex, sym string
		var ts time.Time
		var f [5]string
		var isClosed bool
		if err := rows.Scan(&ex, &sym, &ts, &f[0], &f[1], &f[2], &f[3], &f[4], &isClosed); err != nil {
			rows.Close()
			return v, fmt.Errorf("verify: read candles: %w", err)
		}
		v.Stored.Candles++
		cd, ok := closed[candleKey{market.Exchange(ex), market.Symbol(sym), ts}]
		if !ok {
			continue // the forming candle: counted only
		}
		var d [5]decimal.Decimal
		for i := range f {
			d[i], _ = decimal.NewFromString(f[i])
		}
		if !isClosed || !d[0].Equal(cd.Open) || !d[1].Equal(cd.High) || !d[2].Equal(cd.Low) || !d[3].Equal(cd.Close) || !d[4].Equal(cd.Volume) {
			v.WrongCandles++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return v, fmt.Errorf("verify: read candles: %w", err)
	}
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM tickers), (SELECT count(*) FROM book_snapshots),
		(SELECT count(*) FROM gaps WHERE reason = 'book_resync')`).Scan(&v.Stored.Tickers, &v.BookSnapshots, &v.BookResyncs)
	if err != nil {
		return v, fmt.Errorf("verify: count tickers and books: %w", err)
	}
	return v, nil
}

// simClient talks to the child.
type simClient struct {
	mu  sync.Mutex
	enc *json.Encoder
	dec *json.Decoder
}

// do sends cmd and waits for the answer.
func (c *simClient) do(cmd simCommand) (simAnswer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ans simAnswer
	if err := c.enc.Encode(cmd); err != nil {
		return ans, fmt.Errorf("simulated exchange: send %s: %w", cmd.Op, err)
	}
	if err := c.dec.Decode(&ans); err != nil {
		return ans, fmt.Errorf("simulated exchange: answer to %s: %w", cmd.Op, err)
	}
	if ans.Err != "" {
		return ans, fmt.Errorf("simulated exchange: %s: %s", cmd.Op, ans.Err)
	}
	return ans, nil
}

// SimLauncher starts the simulated exchange with plan and returns its
// client, its endpoints and a function that stops it.
type SimLauncher func(ctx context.Context, plan SimPlan) (*simClient, sim.Endpoints, func() error, error)

// ChildSimLauncher runs the simulated exchange as a child process built
// by cmd (this binary with a hidden flag whose main calls ServeSim).
func ChildSimLauncher(cmd func(ctx context.Context) *exec.Cmd, stderr io.Writer) SimLauncher {
	return func(ctx context.Context, plan SimPlan) (*simClient, sim.Endpoints, func() error, error) {
		c := cmd(ctx)
		c.Stderr = stderr
		in, err := c.StdinPipe()
		if err != nil {
			return nil, sim.Endpoints{}, nil, fmt.Errorf("simulated exchange stdin: %w", err)
		}
		out, err := c.StdoutPipe()
		if err != nil {
			return nil, sim.Endpoints{}, nil, fmt.Errorf("simulated exchange stdout: %w", err)
		}
		if err := c.Start(); err != nil {
			return nil, sim.Endpoints{}, nil, fmt.Errorf("start simulated exchange: %w", err)
		}
		stop := func() error {
			_ = in.Close()
			if err := c.Wait(); err != nil {
				return fmt.Errorf("simulated exchange: %w", err)
			}
			return nil
		}
		cl, ep, err := simHandshake(in, out, plan)
		if err != nil {
			_ = c.Process.Kill()
			_ = stop()
			return nil, sim.Endpoints{}, nil, err
		}
		return cl, ep, stop, nil
	}
}

// simHandshake sends plan and reads the endpoints.
func simHandshake(in io.Writer, out io.Reader, plan SimPlan) (*simClient, sim.Endpoints, error) {
	cl := &simClient{enc: json.NewEncoder(in), dec: json.NewDecoder(out)}
	if err := cl.enc.Encode(plan); err != nil {
		return nil, sim.Endpoints{}, fmt.Errorf("send simulated exchange plan: %w", err)
	}
	var ans simAnswer
	if err := cl.dec.Decode(&ans); err != nil {
		return nil, sim.Endpoints{}, fmt.Errorf("simulated exchange did not start: %w", err)
	}
	return cl, ans.Endpoints, nil
}

package collector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"marketetl/market"
)

// Defaults of the private (balance) streams.
const (
	// DefaultBalanceReconcile is how often the balances built from the
	// stream are compared with the exchange's REST snapshot.
	DefaultBalanceReconcile = 5 * time.Minute
	// defaultLoginTimeout bounds the wait for a login's confirmation.
	defaultLoginTimeout = 15 * time.Second
)

// RefusedError is the exchange refusing a private collector's credentials
// (a bad key, signature or passphrase, a timestamp outside its window):
// the collector stops instead of redialling in a loop, and its supervisor
// restarts it with backoff until it gives up. Its text names the exchange
// and the exchange's code, never a credential.
type RefusedError struct {
	// Exchange is the refusal as the exchange sent it, when it came on the
	// WebSocket; nil for a REST refusal.
	Exchange *ExchangeError
	msg      string
}

// Error implements error.
func (e *RefusedError) Error() string { return e.msg }

// Unwrap returns the exchange's refusal, if any.
func (e *RefusedError) Unwrap() error {
	if e.Exchange == nil {
		return nil
	}
	return e.Exchange
}

func refusedWS(ee *ExchangeError) *RefusedError {
	return &RefusedError{Exchange: ee, msg: "credentials refused: " + ee.Error()}
}

// refusedREST turns a REST error wrapping ErrPermanent into a refusal
// (which does not wrap ErrPermanent: the supervisor retries a refused
// collector a few times, since a refusal may be an exchange's hiccup).
func refusedREST(what string, err error) error {
	if !errors.Is(err, ErrPermanent) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var ee *ExchangeError
	errors.As(err, &ee)
	return &RefusedError{Exchange: ee, msg: "credentials refused: " + what + ": " + err.Error()}
}

// heldBalances are the balances the stream built, by asset: what the REST
// snapshots are compared with.
type heldBalances struct {
	mu sync.Mutex // guards m
	m  map[market.Symbol]market.Balance
}

func newHeldBalances() *heldBalances { return &heldBalances{m: map[market.Symbol]market.Balance{}} }

// set notes b unless the balance held for its asset is newer.
func (h *heldBalances) set(b *market.Balance) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.m[b.Symbol]; ok && old.Time.After(b.Time) {
		return
	}
	h.m[b.Symbol] = *b
}

// differs reports whether snapshot row b says something the held balance
// does not: a different amount, not older than the held one.
func (h *heldBalances) differs(b *market.Balance) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	old, ok := h.m[b.Symbol]
	if !ok {
		return true
	}
	if old.Free.Equal(b.Free) && old.Locked.Equal(b.Locked) {
		return false
	}
	return !b.Time.Before(old.Time)
}

// nonZero returns the held balances that are not zero, sorted by asset.
func (h *heldBalances) nonZero() []market.Balance {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []market.Balance
	for _, b := range h.m {
		if !b.Free.IsZero() || !b.Locked.IsZero() {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out
}

// balanceStreamOf is the collector stream a balance record belongs to: a
// balance collector's streams are one per account (Symbol holds the
// account), while a Balance record's own Stream is per asset.
func balanceStreamOf(b *market.Balance) market.Stream {
	return market.Stream{Exchange: b.Exchange, Type: market.TypeBalance, Symbol: market.Symbol(b.Account)}
}

// routeStream is the collector stream rec is routed by (wanted, tracked,
// counted in Status).
func routeStream(rec market.Record) market.Stream {
	if b, ok := rec.(*market.Balance); ok {
		return balanceStreamOf(b)
	}
	return rec.Stream()
}

// applySnapshot delivers the rows of a REST snapshot that differ from the
// balances held from the stream, and a zero row for every asset held
// non-zero that the snapshot leaves out (OKX and Binance list only
// non-zero balances). It returns how many rows it delivered.
func (c *Collector) applySnapshot(ctx context.Context, recs []market.Record) (int, error) {
	present := map[market.Symbol]bool{}
	n := 0
	for _, rec := range recs {
		b, ok := rec.(*market.Balance)
		if !ok {
			continue
		}
		present[b.Symbol] = true
		if !c.held.differs(b) {
			continue
		}
		if err := c.route.deliver(ctx, b, b.Received, 0); err != nil {
			return n, err
		}
		n++
	}
	now := c.cfg.Now().UTC()
	exNow := c.clock.Now().UTC().Truncate(time.Millisecond)
	for _, b := range c.held.nonZero() {
		if present[b.Symbol] {
			continue
		}
		ts := exNow
		if !ts.After(b.Time) {
			ts = b.Time.Add(time.Millisecond)
		}
		zero := &market.Balance{
			Meta:    market.Meta{Exchange: b.Exchange, Symbol: b.Symbol, Time: ts, Received: now},
			Account: b.Account, Free: decimal.Zero, Locked: decimal.Zero,
		}
		if err := c.route.deliver(ctx, zero, now, 0); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// snapshot reads the exchange's balances over REST and delivers what the
// stream missed; why says when ("subscribed", "reconcile").
func (c *Collector) snapshot(ctx context.Context, why string) (int, error) {
	recs, err := c.snap.Snapshot(ctx, c.Streams())
	if err != nil {
		return 0, refusedREST("balance snapshot", err)
	}
	n, err := c.applySnapshot(ctx, recs)
	if err != nil {
		return n, err
	}
	c.log.Debug("balance snapshot applied", zap.String("when", why), zap.Int("rows", len(recs)), zap.Int("delivered", n))
	return n, nil
}

// reconcileBalances compares the balances held from the stream with the
// exchange's every BalanceReconcile, delivering and counting the
// corrections, until ctx ends. A failed comparison is logged and counted
// and tried again at the next tick.
func (c *Collector) reconcileBalances(ctx context.Context) {
	t := time.NewTicker(c.cfg.BalanceReconcile)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.st.anySubscribed() {
			continue
		}
		n, err := c.snapshot(ctx, "reconcile")
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.st.reconciled("balance_failed")
			c.st.recordError(err, c.cfg.Now())
			c.log.Warn("balance reconciliation failed", zap.Error(err))
			continue
		}
		c.st.reconciled("balance_checked")
		if n > 0 {
			c.st.balanceCorrections(uint64(n))
			c.log.Warn("balance reconciliation corrected balances the stream had not delivered", zap.Int("rows", n))
		}
	}
}

// measureSkew reads the exchange's server time and sets the clock's skew
// (the exchange's time minus the host's at the middle of the request).
// A failure keeps the last skew.
func (c *Collector) measureSkew(ctx context.Context) {
	skew, ok := c.serverSkew(ctx)
	if !ok {
		return
	}
	c.clock.SetSkew(skew)
	c.st.setSkew(skew)
	if skew > 2*time.Second || skew < -2*time.Second {
		c.log.Info("the host's clock differs from the exchange's; signing with the exchange's time", zap.Duration("skew", skew))
	}
}

// serverSkew reads the exchange's server time, when the Protocol is a
// ServerClock, and returns the exchange's time minus the host's at the
// middle of the request. It also gives Config.ClockSkew the offset, for
// validation until the trades give theirs.
func (c *Collector) serverSkew(ctx context.Context) (time.Duration, bool) {
	sc, ok := c.proto.(ServerClock)
	if !ok {
		return 0, false
	}
	before := c.cfg.Now()
	server, err := sc.ServerTime(ctx)
	after := c.cfg.Now()
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("measure the exchange's clock; keeping the last skew", zap.Error(err))
		}
		return 0, false
	}
	skew := server.Sub(before.Add(after.Sub(before) / 2))
	c.cfg.ClockSkew.SetServerOffset(c.proto.Exchange(), -skew)
	return skew, true
}

// checkPermissions warns once when the key can do more than read.
func (c *Collector) checkPermissions(ctx context.Context) {
	pc, ok := c.proto.(PermissionChecker)
	if !ok {
		return
	}
	perms, err := pc.KeyPermissions(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Info("could not read the API key's permissions", zap.Error(err))
		}
		return
	}
	if perms.Known && (perms.Trade || perms.Withdraw) {
		c.log.Warn("the API key can do more than read balances: a read-only key suffices and is safer",
			zap.Bool("can_trade", perms.Trade), zap.Bool("can_withdraw", perms.Withdraw))
	}
}

// beforeDial runs what a connection needs before each dial: for a private
// one the skew measurement and the protocol's Preparer; for a public one,
// while its exchange's clock skew is not yet estimated from trades, the
// server-time measurement that stands in for it.
func (c *Collector) beforeDial(ctx context.Context) error {
	if !c.private {
		// Until the trades estimate the clock skew, the server time does,
		// so that a host clock behind the exchange's refuses no trade
		// for its time at start.
		if c.cfg.ClockSkew != nil && !c.cfg.ClockSkew.fromTrades(c.proto.Exchange()) {
			sctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
			c.serverSkew(sctx)
			cancel()
		}
		return nil
	}
	c.measureSkew(ctx)
	if p, ok := c.proto.(Preparer); ok {
		if err := p.Prepare(ctx); err != nil {
			return refusedREST("prepare", err)
		}
	}
	return nil
}

// privSession is a private connection's login and snapshot signals,
// shared by its reader (which sets them) and its subscriber and snapshot
// goroutines (which wait for them).
type privSession struct {
	loggedIn  chan struct{} // closed on the login's confirmation
	loginSeen bool          // reader only
	// subscribed is set once a subscription was acknowledged; reader only.
	subscribed bool
	snapReq    chan struct{} // a subscription was acknowledged
}

func newPrivSession() *privSession {
	return &privSession{loggedIn: make(chan struct{}), snapReq: make(chan struct{}, 1)}
}

// event notes what a decoded frame means for the private connection: a
// login confirmed, a subscription acknowledged (a snapshot is due), or a
// permanent refusal, which ends the connection with a *RefusedError.
func (ps *privSession) event(ev *Event) error {
	if ev.LoggedIn && !ps.loginSeen {
		ps.loginSeen = true
		close(ps.loggedIn)
	}
	if ev.Err != nil && ev.Err.Permanent {
		return refusedWS(ev.Err)
	}
	if ev.Err != nil && !ps.subscribed {
		// A transient refusal of the login or the subscription (a
		// timestamp outside the exchange's window): redial, which
		// measures the clock again.
		return fmt.Errorf("exchange refused the login or subscription: %w", ev.Err)
	}
	if len(ev.Acked) > 0 || ev.AckID != 0 {
		ps.subscribed = true
		select {
		case ps.snapReq <- struct{}{}:
		default:
		}
	}
	return nil
}

// login sends an Authenticator's login frames and waits, at most
// LoginTimeout, for the exchange's confirmation; a refusal ends the
// connection through the reader.
func (c *Collector) login(ctx context.Context, plan ConnPlan, id uint64, w *writer, ps *privSession) error {
	frames, err := c.auth.Login(plan, id)
	if err != nil {
		return fmt.Errorf("build login frames: %w", err)
	}
	if err := w.request(ctx, frames...); err != nil {
		return err
	}
	t := time.NewTimer(c.cfg.LoginTimeout)
	defer t.Stop()
	select {
	case <-ps.loggedIn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("login not confirmed within %s", c.cfg.LoginTimeout)
	}
}

// snapshots takes a REST snapshot after each acknowledged subscription
// (every connect and reconnect), so that a change made while the
// connection was down is stored. A failed snapshot ends the connection:
// the redial takes another.
func (c *Collector) snapshots(ctx context.Context, ps *privSession) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ps.snapReq:
		}
		if _, err := c.snapshot(ctx, "subscribed"); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

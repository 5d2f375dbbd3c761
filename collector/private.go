package collector

import (
	"context"
	"time"

	"marketetl/market"
)

// Private streams (account balances) differ from market data in three ways,
// each an optional interface that a Protocol may implement:
//   - they log in after dialing (OKX), or sign each subscription
//     (Binance, Coinbase: their Subscribe frames carry the signature);
//   - they carry no sequence numbers, so a change made while the
//     connection was down would be lost: the loop takes a REST snapshot
//     after every (re)subscription and at a fixed interval, and keeps the
//     rows that differ from what it holds;
//   - their signatures carry timestamps that the exchange checks against
//     its own clock: the loop measures the skew against the exchange's
//     server time and the adapter signs with the exchange's time.

// Authenticator is a Protocol whose connections log in before subscribing.
type Authenticator interface {
	// Login returns the frames that authenticate a new connection of plan.
	// The loop sends them right after dialing and sends Subscribe's frames
	// only once Decode has reported Event.LoggedIn; a refusal comes as
	// Event.Err (Permanent for bad credentials).
	Login(plan ConnPlan, id uint64) ([][]byte, error)
}

// Snapshotter is a Protocol whose streams are kept exact by REST snapshots
// (balances). Snapshot returns every record the exchange holds now for
// streams (one request or a few). Errors as History's: a *RetryAfterError,
// an error wrapping ErrPermanent (refused credentials), or transient.
type Snapshotter interface {
	Snapshot(ctx context.Context, streams []market.Stream) ([]market.Record, error)
}

// ServerClock is a Protocol that can read the exchange's clock (its
// server-time endpoint), so that signed timestamps can follow the exchange
// rather than the host.
type ServerClock interface {
	// ServerTime returns the exchange's time as its endpoint reports it.
	ServerTime(ctx context.Context) (time.Time, error)
}

// Permissions are what an API key may do, as the exchange reports them.
type Permissions struct {
	// Known is false when the exchange does not report them.
	Known bool
	// Trade and Withdraw are true for a key that can trade or withdraw:
	// more than a collector needs.
	Trade, Withdraw bool
}

// PermissionChecker is a Protocol that can tell what its key may do.
type PermissionChecker interface {
	KeyPermissions(ctx context.Context) (Permissions, error)
}

// Preparer is a Protocol that must read something over REST before it can
// subscribe (Coinbase: the account ids its balance channel is subscribed
// by). The loop calls Prepare before every dial; its error is handled as a
// dial error (retried with backoff unless it wraps ErrPermanent).
type Preparer interface {
	Prepare(ctx context.Context) error
}

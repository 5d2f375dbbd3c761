// Package kraken speaks Kraken spot's public market data: the WebSocket v2
// channels trade, ticker and ohlc, and the REST history (/0/public/OHLC and
// /0/public/Trades).
//
// The Adapter implements collector.Protocol, collector.History,
// collector.TradeIDRule, collector.TimedHistory and
// collector.CandleCloseRule. It builds frames and decodes frames; the
// generic loop in package collector dials, pings, enforces read deadlines
// and reconnects. Kraken's ohlc channel carries no closed flag: the
// adapter reports every candle as forming and declares the rule that the
// collector applies (a candle is final when a later interval_begin of its
// stream arrives). Kraken's REST Trades pages by time, not by trade id:
// the adapter implements collector.TimedHistory, which the backfill uses
// instead of Trades.
//
// Sources (Kraken documentation, docs.kraken.com): see README.md.
package kraken

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// Interface conformance.
var (
	_ collector.Protocol        = (*Adapter)(nil)
	_ collector.History         = (*Adapter)(nil)
	_ collector.TimedHistory    = (*Adapter)(nil)
	_ collector.TradeIDRule     = (*Adapter)(nil)
	_ collector.CandleCloseRule = (*Adapter)(nil)
)

// Production endpoints (guides/spot-ws-intro: "wss://ws.kraken.com/v2";
// REST API reference: "https://api.kraken.com/0").
const (
	DefaultWSURL   = "wss://ws.kraken.com/v2"
	DefaultRESTURL = "https://api.kraken.com"
)

// Config configures an Adapter. Zero values take the defaults documented
// on each field.
type Config struct {
	// WSURL is the full URL of the public WebSocket v2 API, dialled as
	// given. Default DefaultWSURL. Scheme ws or wss.
	WSURL string
	// RESTURL is the base URL of the REST API, without a path: the adapter
	// appends /0/public/.... Default DefaultRESTURL. Scheme http or https.
	RESTURL string
	// HTTPClient makes the REST requests. Default: a client with a 30 s
	// timeout (wire.DefaultRESTTimeout).
	HTTPClient *http.Client
	// UserAgent is sent on REST requests. Default wire.DefaultUserAgent.
	UserAgent string
	// Budget, when set, is the exchange's REST request budget (see
	// wire.RESTConfig.Budget). nil: the client is used as given.
	Budget *wire.Budget
	// Now returns the current time; REST history uses it to leave out the
	// candle still forming. Default time.Now.
	Now func() time.Time
}

// maxBody bounds a REST body: 1000 trades or 720 candles of about 100
// bytes each, with room to spare.
const maxBody = 4 << 20

func (cfg *Config) applyDefaults() {
	if cfg.WSURL == "" {
		cfg.WSURL = DefaultWSURL
	}
}

// rest is the shared REST client configuration (defaults are applied by
// wire.NewREST).
func (cfg *Config) rest() wire.RESTConfig {
	return wire.RESTConfig{BaseURL: cfg.RESTURL, HTTPClient: cfg.HTTPClient, UserAgent: cfg.UserAgent,
		Budget: cfg.Budget, MaxBody: maxBody, Now: cfg.Now}
}

// Adapter speaks Kraken's public spot market data. Its only shared state
// is the table of interned symbols, which takes no lock; it is safe for use
// by several goroutines at once.
type Adapter struct {
	cfg  Config
	rest *wire.REST
	syms symbols
}

// New checks cfg, applies its defaults and returns an Adapter.
func New(cfg Config) (*Adapter, error) {
	cfg.applyDefaults()
	var errs []error
	if err := wire.CheckWSURL(cfg.WSURL); err != nil {
		errs = append(errs, fmt.Errorf("WSURL: %w", err))
	}
	rest, err := wire.NewREST(cfg.rest(), DefaultRESTURL, "/0")
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kraken config: %w", err)
	}
	return &Adapter{cfg: cfg, rest: rest}, nil
}

// Exchange implements collector.Protocol.
func (a *Adapter) Exchange() market.Exchange { return market.Kraken }

// Keep-alive rules (guides/spot-ws-intro).
const (
	// pingText is the application-level ping; Kraken answers
	// {"method":"pong",...}.
	pingText = `{"method":"ping"}`
	// pingAfter: idle connections are closed after about a minute; once
	// anything is subscribed a heartbeat comes about once a second, so a
	// ping is only sent after a silence of 10 s.
	pingAfter = 10 * time.Second
	// readTimeout: 30 s without heartbeat, data or pong means the
	// connection is dead.
	readTimeout = 30 * time.Second
	// maxSendPerSecond: Kraken publishes no per-connection message limit
	// for public channels; the adapter sends one subscribe frame per
	// channel and a ping now and then, and keeps to a few per second.
	maxSendPerSecond = 5
)

// KeepAlive implements collector.Protocol.
func (a *Adapter) KeepAlive() collector.KeepAlive {
	return collector.KeepAlive{
		PingText:         pingText,
		PingAfter:        pingAfter,
		ReadTimeout:      readTimeout,
		MaxSendPerSecond: maxSendPerSecond,
	}
}

// SequentialTradeIDs implements collector.TradeIDRule: the trade channel's
// trade_id is "a sequence number, unique per book" (websocket-v2/trade),
// and REST Trades rows carry the same id, consecutive within a pair (see
// README.md, "Gap detection").
func (a *Adapter) SequentialTradeIDs() bool { return true }

// CandlesCloseOnNext implements collector.CandleCloseRule: the ohlc
// channel has no closed flag; updates are "streamed on a trade event", so
// a candle is final when an update of a later interval_begin of the same
// symbol and interval arrives.
func (a *Adapter) CandlesCloseOnNext() bool { return true }

// Connection attempts: "~150 connection attempts per rolling 10 minutes
// per IP", beyond which Cloudflare bans the address for 10 minutes. A
// bucket of 10 refilled at 0.2/s lets at most 10 + 120 = 130 through in
// any 10 minutes, leaving room for other processes on the same address.
const (
	dialsPerSecond = 0.2
	dialBurst      = 10
)

// Limits implements collector.SubscriptionLimits: the dial pace only (the
// connection's streams are not limited by a documented number).
func (a *Adapter) Limits() collector.Limits {
	return collector.Limits{Dials: collector.Pace{PerSecond: dialsPerSecond, Burst: dialBurst}}
}

// Compile-time check that the adapter declares its limits.
var _ collector.SubscriptionLimits = (*Adapter)(nil)

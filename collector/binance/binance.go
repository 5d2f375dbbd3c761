// Package binance speaks Binance spot's public market data: the combined
// WebSocket streams (<symbol>@trade, <symbol>@kline_<interval>,
// <symbol>@ticker) and the REST history (/api/v3/klines,
// /api/v3/historicalTrades).
//
// The Adapter implements collector.Protocol and collector.History. It builds
// URLs and frames and decodes frames; the generic loop in package collector
// dials, answers the server's ping frames, enforces read deadlines, paces
// outgoing frames and replaces connections before Binance's 24-hour limit.
//
// Sources: Binance's spot API documentation (web-socket-streams.md,
// rest-api.md, errors.md of github.com/binance/binance-spot-api-docs, also
// published at https://developers.binance.com/docs/binance-spot-api-docs/).
package binance

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
	_ collector.Protocol = (*Adapter)(nil)
	_ collector.History  = (*Adapter)(nil)
)

// Production endpoints (web-socket-streams.md "General WSS information",
// rest-api.md "General API Information").
const (
	DefaultWSURL   = "wss://stream.binance.com:9443"
	DefaultRESTURL = "https://api.binance.com"
)

// Limits of one connection (web-socket-streams.md "WebSocket Limits").
const (
	// maxStreamsPerConn is Binance's limit of streams on one connection.
	maxStreamsPerConn = 1024
	// defaultMaxRequestBytes bounds a combined-stream URL and a SUBSCRIBE
	// frame. Binance does not document a limit; a combined-stream URL longer
	// than about 8,000 characters has been observed to fail
	// (https://github.com/oliver-zehentleitner/unicorn-binance-websocket-api/issues/17),
	// and so has one SUBSCRIBE frame of about 8 KB
	// (https://github.com/altangent/ccxws/issues/161). Half of that leaves
	// room for proxies and about 200 streams per connection.
	defaultMaxRequestBytes = 4096
	// minRequestBytes is the smallest MaxRequestBytes accepted: enough for
	// any one stream name after a long base URL.
	minRequestBytes = 512
)

// Config configures an Adapter. Zero values take the defaults documented
// on each field.
type Config struct {
	// WSURL is the base URL of the market streams, without a path: the
	// adapter appends /stream?streams=<name>/<name>/... exactly as the
	// exchange expects. Default DefaultWSURL. Scheme ws or wss.
	WSURL string
	// RESTURL is the base URL of the REST API, without a path: the adapter
	// appends /api/v3/.... Default DefaultRESTURL. Scheme http or https.
	RESTURL string
	// HTTPClient makes the REST requests. Default: a client with a 30 s
	// timeout (wire.DefaultRESTTimeout).
	HTTPClient *http.Client
	// UserAgent is sent on REST requests. Default wire.DefaultUserAgent.
	UserAgent string
	// Budget, when set, is the exchange's REST request budget, wrapped
	// around HTTPClient's transport (see wire.RESTConfig.Budget). nil: the
	// client is used as given.
	Budget *wire.Budget
	// Now returns the current time; REST history uses it to leave out the
	// candle still forming. Default time.Now.
	Now func() time.Time
	// MaxStreamsPerConn bounds the streams planned on one connection.
	// Default and maximum 1024, Binance's limit.
	MaxStreamsPerConn int
	// MaxRequestBytes bounds the length of a combined-stream URL and of one
	// SUBSCRIBE or UNSUBSCRIBE frame, in bytes; the plan opens another
	// connection rather than exceed it. Default 4096; at least 512.
	MaxRequestBytes int
}

func (cfg *Config) applyDefaults() {
	if cfg.WSURL == "" {
		cfg.WSURL = DefaultWSURL
	}
	if cfg.MaxStreamsPerConn == 0 {
		cfg.MaxStreamsPerConn = maxStreamsPerConn
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = defaultMaxRequestBytes
	}
}

// rest is the shared REST client configuration (defaults are applied by
// wire.NewREST).
func (cfg *Config) rest() wire.RESTConfig {
	return wire.RESTConfig{BaseURL: cfg.RESTURL, HTTPClient: cfg.HTTPClient, UserAgent: cfg.UserAgent,
		Budget: cfg.Budget, MaxBody: maxBody, Now: cfg.Now}
}

// Adapter speaks Binance spot's public market data. It is safe for use by
// several goroutines at once.
type Adapter struct {
	cfg Config
	// wsBase is the configured WebSocket base URL without a trailing slash.
	wsBase string
	// rest is the REST client.
	rest *wire.REST
	// symbols maps Binance's spellings of the symbols ever planned back to
	// normalised symbols; see symbols.go.
	symbols symbolTable
	// decimals lends each Decode call a table of recently read decimals
	// (Decode runs on every connection's reader at once).
	decimals wire.DecimalsPool
}

// New checks cfg, applies its defaults and returns an Adapter.
func New(cfg Config) (*Adapter, error) {
	cfg.applyDefaults()
	var errs []error
	wsBase, err := wire.BaseURL(cfg.WSURL, "ws", "wss", "/stream", "/ws")
	if err != nil {
		errs = append(errs, fmt.Errorf("WSURL: %w", err))
	}
	rest, err := wire.NewREST(cfg.rest(), DefaultRESTURL, "/api/v3", "/api")
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.MaxStreamsPerConn < 1 || cfg.MaxStreamsPerConn > maxStreamsPerConn {
		errs = append(errs, fmt.Errorf("MaxStreamsPerConn %d: want 1 to %d (Binance's limit per connection), or 0 for %d",
			cfg.MaxStreamsPerConn, maxStreamsPerConn, maxStreamsPerConn))
	}
	if cfg.MaxRequestBytes < minRequestBytes {
		errs = append(errs, fmt.Errorf("MaxRequestBytes %d: want at least %d, or 0 for %d",
			cfg.MaxRequestBytes, minRequestBytes, defaultMaxRequestBytes))
	} else if wsBase != "" && len(wsBase)+len(streamsPath)+maxStreamNameLen > cfg.MaxRequestBytes {
		errs = append(errs, fmt.Errorf("MaxRequestBytes %d: too small for one stream after WSURL %q", cfg.MaxRequestBytes, wsBase))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("binance config: %w", err)
	}
	return &Adapter{cfg: cfg, wsBase: wsBase, rest: rest}, nil
}

// Exchange implements collector.Protocol.
func (a *Adapter) Exchange() market.Exchange { return market.Binance }

// Keep-alive rules (web-socket-streams.md "General WSS information" and
// "WebSocket Limits", CHANGELOG 2025-01-28).
const (
	// readTimeout: the server sends a ping frame every 20 s, so silence for
	// longer than three of those means the connection is dead.
	readTimeout = 75 * time.Second
	// maxLifetime: "A single connection to stream.binance.com is only valid
	// for 24 hours".
	maxLifetime = 24 * time.Hour
	// maxSendPerSecond: Binance allows 5 incoming messages per second per
	// connection, ping, pong and JSON control messages included. The loop
	// spaces paced frames evenly (burst 1), and the pong answering the
	// server's ping is written at once, outside the pacing: 4 paced frames
	// plus one pong stay within 5 in any second.
	maxSendPerSecond = 4
)

// SequentialTradeIDs implements collector.TradeIDRule: Binance's trade
// stream field "t" numbers each symbol's trades one by one (see README.md,
// "Gap detection").
func (a *Adapter) SequentialTradeIDs() bool { return true }

// Compile-time check that the adapter declares its trade id rule.
var _ collector.TradeIDRule = (*Adapter)(nil)

// KeepAlive implements collector.Protocol. The server sends ping frames
// every 20 s and closes the connection when no pong copying the payload
// comes back within a minute; the loop's ping handler answers them, so no
// text ping is declared. Connections live at most 24 hours; the loop dials
// a replacement before then.
func (a *Adapter) KeepAlive() collector.KeepAlive {
	return collector.KeepAlive{
		ReadTimeout:      readTimeout,
		MaxLifetime:      maxLifetime,
		MaxSendPerSecond: maxSendPerSecond,
	}
}

// Connection limits (web-socket-streams.md "WebSocket Limits"): "A single
// connection can listen to a maximum of 1024 streams" (Plan keeps each
// connection within Config.MaxStreamsPerConn, at most that) and "There is a
// limit of 300 connections per attempt every 5 minutes per IP". A bucket of
// 30 refilled at 0.9/s lets at most 30 + 270 = 300 through in any 5
// minutes. The 5 incoming messages per second are kept by
// KeepAlive.MaxSendPerSecond.
const (
	dialsPerSecond = 0.9
	dialBurst      = 30
)

// Limits implements collector.SubscriptionLimits.
func (a *Adapter) Limits() collector.Limits {
	return collector.Limits{
		StreamsPerConn: maxStreamsPerConn,
		Dials:          collector.Pace{PerSecond: dialsPerSecond, Burst: dialBurst},
	}
}

// Compile-time check that the adapter declares its limits.
var _ collector.SubscriptionLimits = (*Adapter)(nil)

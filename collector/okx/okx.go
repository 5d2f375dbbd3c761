// Package okx speaks OKX v5 public market data: the WebSocket channels
// tickers and trades (on the public endpoint) and candle<bar> (on the
// business endpoint), and the REST market history (/api/v5/market/candles,
// /api/v5/market/history-candles, /api/v5/market/history-trades).
//
// The Adapter implements collector.Protocol and collector.History. It builds
// subscribe frames and decodes frames; the generic loop in package collector
// dials, sends the text ping OKX expects, enforces read deadlines and
// reconnects.
//
// Source: OKX API v5 documentation, https://www.okx.com/docs-v5/en/
// (sections overview-websocket-*, order-book-trading-market-data-*,
// error-code-websocket-public, error-code-rest-api-public).
package okx

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

// Production endpoints (overview-production-trading-services; the
// candlesticks channel page names the business path).
const (
	// DefaultPublicURL serves tickers and trades.
	DefaultPublicURL = "wss://ws.okx.com:8443/ws/v5/public"
	// DefaultBusinessURL serves the candlestick channels.
	DefaultBusinessURL = "wss://ws.okx.com:8443/ws/v5/business"
	// DefaultRESTURL is OKX's long-established REST host. The
	// documentation of 2026 names https://openapi.okx.com as the production
	// REST host; set Config.RESTURL to use it.
	DefaultRESTURL = "https://www.okx.com"
)

// Config configures an Adapter. Zero values take the defaults documented on
// each field.
type Config struct {
	// PublicURL is the full URL of the public WebSocket service, which
	// carries tickers and trades. Default DefaultPublicURL. Scheme ws or wss.
	PublicURL string
	// BusinessURL is the full URL of the business WebSocket service, which
	// carries the candlestick channels. Default DefaultBusinessURL. Scheme
	// ws or wss.
	BusinessURL string
	// RESTURL is the base URL of the REST API, without a path: the adapter
	// appends /api/v5/market/.... Default DefaultRESTURL. Scheme http or
	// https.
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
	// Now returns the current time; REST history uses it to pick the
	// endpoint that holds a range.
	// Default time.Now.
	Now func() time.Time
}

func (cfg *Config) applyDefaults() {
	if cfg.PublicURL == "" {
		cfg.PublicURL = DefaultPublicURL
	}
	if cfg.BusinessURL == "" {
		cfg.BusinessURL = DefaultBusinessURL
	}
}

// rest is the shared REST client configuration (defaults are applied by
// wire.NewREST).
func (cfg *Config) rest() wire.RESTConfig {
	return wire.RESTConfig{BaseURL: cfg.RESTURL, HTTPClient: cfg.HTTPClient, UserAgent: cfg.UserAgent,
		Budget: cfg.Budget, MaxBody: maxBody, Now: cfg.Now}
}

// Adapter speaks OKX v5 public market data. It holds its configuration
// and a lock-free table of the instruments seen, so it is safe for use by
// several goroutines at once.
type Adapter struct {
	cfg Config
	// rest is the REST client.
	rest *wire.REST
	// syms interns the instruments of decoded frames.
	syms symbols
	// decimals lends each Decode call a table of recently read decimals
	// (Decode runs on every connection's reader at once).
	decimals wire.DecimalsPool
}

// New checks cfg, applies its defaults and returns an Adapter.
func New(cfg Config) (*Adapter, error) {
	cfg.applyDefaults()
	var errs []error
	if err := wire.CheckWSURL(cfg.PublicURL); err != nil {
		errs = append(errs, fmt.Errorf("PublicURL: %w", err))
	}
	if err := wire.CheckWSURL(cfg.BusinessURL); err != nil {
		errs = append(errs, fmt.Errorf("BusinessURL: %w", err))
	}
	rest, err := wire.NewREST(cfg.rest(), DefaultRESTURL, "/api/v5")
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("okx config: %w", err)
	}
	return &Adapter{cfg: cfg, rest: rest}, nil
}

// Exchange implements collector.Protocol.
func (a *Adapter) Exchange() market.Exchange { return market.OKX }

// Keep-alive rules (overview-websocket-connect).
const (
	// pingText is the text frame OKX answers with the text frame "pong".
	pingText = "ping"
	// pingAfter: "The connection will break automatically if ... data has
	// not been pushed for more than 30 seconds"; the client sends "ping"
	// after N < 30 s of silence. The loop looks every pingAfter/4, so the
	// ping leaves after 15 to 19 s of silence, and the pong has more than
	// 10 s to arrive before readTimeout.
	pingAfter = 15 * time.Second
	// readTimeout: "If the response message is not received within N
	// seconds, please raise an error or reconnect".
	readTimeout = 30 * time.Second
	// subscribeWithin: a connection without a subscription is closed after 30 s.
	subscribeWithin = 30 * time.Second
)

// SequentialTradeIDs implements collector.TradeIDRule: OKX numbers each
// instrument's trades one by one, and a trades push with "count" n covers
// the ids tradeId-n+1 to tradeId (see README.md, "Gap detection").
func (a *Adapter) SequentialTradeIDs() bool { return true }

// Compile-time check that the adapter declares its trade id rule.
var _ collector.TradeIDRule = (*Adapter)(nil)

// KeepAlive implements collector.Protocol. OKX closes a connection that has
// pushed nothing for 30 s; the client keeps it open by sending the text
// frame "ping", which OKX answers with "pong". Connections have no
// documented lifetime. OKX limits connection attempts (3 per second per IP)
// and subscribe/unsubscribe requests (480 per connection per hour) rather
// than frames per second, so no send rate is declared.
func (a *Adapter) KeepAlive() collector.KeepAlive {
	return collector.KeepAlive{
		PingText:        pingText,
		PingAfter:       pingAfter,
		ReadTimeout:     readTimeout,
		SubscribeWithin: subscribeWithin,
	}
}

// Subscription limits (overview-websocket-connect, overview-rate-limits).
const (
	// streamsPerConn: OKX documents no number of channels per connection,
	// only that the args of one request stay under 64 KB (kept by
	// requestFrames). 200 is a conservative choice: at most five
	// subscribe frames' worth of streams, each frame far below 64 KB, and
	// a connection's pushes stay a small share of its bandwidth.
	streamsPerConn = 200
	// dialsPerSecond: "3 requests per second (based on IP)" to connect. A
	// bucket of 1 refilled at 2/s lets at most 3 through in any second.
	dialsPerSecond = 2
	// requestsPerHour, requestBurst: "480 'subscribe/unsubscribe/login'
	// requests per connection per hour". 60 at once plus 400 an hour is
	// at most 460 in any hour, which leaves room for the login of a
	// private connection.
	requestsPerHour = 400
	requestBurst    = 60
)

// Limits implements collector.SubscriptionLimits.
func (a *Adapter) Limits() collector.Limits {
	return collector.Limits{
		StreamsPerConn: streamsPerConn,
		Dials:          collector.Pace{PerSecond: dialsPerSecond, Burst: 1},
		Requests:       collector.Pace{PerSecond: requestsPerHour / 3600.0, Burst: requestBurst},
	}
}

// Compile-time check that the adapter declares its limits.
var _ collector.SubscriptionLimits = (*Adapter)(nil)

// Package coinbase speaks Coinbase Exchange's market data: the WebSocket
// feed's ticker, matches and heartbeat channels, the order book channels
// (public level2_batch, or the authenticated level2 when Config has API
// keys), and the REST history (/products/{product_id}/candles and
// /products/{product_id}/trades); and, in Private, the authenticated
// balance channel.
//
// The Adapter implements collector.Protocol and collector.History. It builds
// frames and decodes frames; the generic loop in package collector dials,
// sends the subscription within Coinbase's 5 seconds, enforces read
// deadlines and reconnects. Coinbase streams no candles: Plan declares the
// candle streams as aggregated, subscribes the matches of their symbols,
// and the loop builds the candles from those trades, closing them on the
// heartbeats' exchange time.
//
// Sources (Coinbase Exchange documentation):
// https://docs.cdp.coinbase.com/exchange/websocket-feed/overview,
// https://docs.cdp.coinbase.com/exchange/websocket-feed/channels,
// https://docs.cdp.coinbase.com/exchange/websocket-feed/rate-limits,
// https://docs.cdp.coinbase.com/exchange/docs/websocket-errors,
// https://docs.cdp.coinbase.com/api-reference/exchange-api/rest-api/products/get-product-candles,
// https://docs.cdp.coinbase.com/api-reference/exchange-api/rest-api/products/get-product-trades,
// https://docs.cdp.coinbase.com/exchange/rest-api/pagination.
package coinbase

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/credentials"
	"marketetl/market"
)

// Interface conformance.
var (
	_ collector.Protocol = (*Adapter)(nil)
	_ collector.History  = (*Adapter)(nil)
)

// Production endpoints (websocket-feed/overview; REST API reference).
const (
	DefaultWSURL   = "wss://ws-feed.exchange.coinbase.com"
	DefaultRESTURL = "https://api.exchange.coinbase.com"
)

// Config configures an Adapter. Zero values take the defaults documented
// on each field.
type Config struct {
	// WSURL is the full URL of the WebSocket feed, dialled as given.
	// Default DefaultWSURL. Scheme ws or wss.
	WSURL string
	// RESTURL is the base URL of the REST API, without a path: the adapter
	// appends /products/.... Default DefaultRESTURL. Scheme http or https.
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
	// candle still forming, and an authenticated subscribe is time-stamped
	// with it. Default time.Now.
	Now func() time.Time
	// Credentials, when set (a key, a Base64 secret and a passphrase), make
	// order book streams use the authenticated level2 channel: its
	// subscribe message is signed (websocket-feed/authentication). Zero:
	// order books use the public level2_batch channel.
	Credentials credentials.Credentials
}

// authenticated reports whether cfg has API keys for the level2 channel.
func (cfg *Config) authenticated() bool { return !cfg.Credentials.Key.Empty() }

func (cfg *Config) applyDefaults() {
	if cfg.WSURL == "" {
		cfg.WSURL = DefaultWSURL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
}

// rest is the shared REST client configuration (defaults are applied by
// wire.NewREST).
func (cfg *Config) rest() wire.RESTConfig {
	return wire.RESTConfig{BaseURL: cfg.RESTURL, HTTPClient: cfg.HTTPClient, UserAgent: cfg.UserAgent,
		Budget: cfg.Budget, MaxBody: maxBody, Now: cfg.Now}
}

// Adapter speaks Coinbase Exchange's public market data. It holds no
// mutable state and is safe for use by several goroutines at once.
type Adapter struct {
	cfg Config
	// rest is the REST client.
	rest *wire.REST
	// decimals lends each Decode call a table of recently read decimals
	// (Decode runs on every connection's reader at once).
	decimals wire.DecimalsPool
}

// New checks cfg, applies its defaults and returns an Adapter.
func New(cfg Config) (*Adapter, error) {
	cfg.applyDefaults()
	var errs []error
	if err := wire.CheckWSURL(cfg.WSURL); err != nil {
		errs = append(errs, fmt.Errorf("WSURL: %w", err))
	}
	rest, err := wire.NewREST(cfg.rest(), DefaultRESTURL, "/products")
	if err != nil {
		errs = append(errs, err)
	}
	if c := cfg.Credentials; !c.Key.Empty() || !c.Secret.Empty() || !c.Passphrase.Empty() {
		if c.Key.Empty() || c.Secret.Empty() || c.Passphrase.Empty() {
			errs = append(errs, fmt.Errorf("credentials %s: the level2 channel needs an API key, a secret and a passphrase", c.Name))
		} else if _, err := SignFeed(c.Secret, "0"); err != nil {
			errs = append(errs, fmt.Errorf("credentials %s: %w", c.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("coinbase config: %w", err)
	}
	return &Adapter{cfg: cfg, rest: rest}, nil
}

// Exchange implements collector.Protocol.
func (a *Adapter) Exchange() market.Exchange { return market.Coinbase }

// Keep-alive rules (websocket-feed/overview, websocket-feed/channels,
// websocket-feed/rate-limits).
const (
	// readTimeout: every product on a connection has a heartbeat once a
	// second, so half a minute of silence means the connection is dead.
	readTimeout = 30 * time.Second
	// subscribeWithin: "you are disconnected if no subscribe has been
	// received within 5 seconds".
	subscribeWithin = 5 * time.Second
	// maxSendPerSecond: inbound messages (subscribe, unsubscribe) are
	// limited to 10 per second, 1000 in bursts, counted per IP across
	// connections. The adapter sends one frame per
	// change and no pings, so half the rate leaves room for other
	// connections from the same address.
	maxSendPerSecond = 5
)

// SequentialTradeIDs implements collector.TradeIDRule: Coinbase Exchange's
// match "trade_id" numbers each product's trades one by one (see
// README.md, "Gap detection").
func (a *Adapter) SequentialTradeIDs() bool { return true }

// Compile-time check that the adapter declares its trade id rule.
var _ collector.TradeIDRule = (*Adapter)(nil)

// KeepAlive implements collector.Protocol. Coinbase needs no client ping:
// the heartbeat channel, which every plan subscribes for every product,
// sends a message per product every second.
func (a *Adapter) KeepAlive() collector.KeepAlive {
	return collector.KeepAlive{
		ReadTimeout:      readTimeout,
		SubscribeWithin:  subscribeWithin,
		MaxSendPerSecond: maxSendPerSecond,
	}
}

// Subscription limits (websocket-feed/rate-limits).
const (
	// streamsPerConn: Coinbase documents no limit of subscriptions per
	// connection (its subscription limit is 10 per product and channel
	// per account, which one collector never nears). 200 streams (a
	// hundred products with ticker and matches) is a conservative choice
	// that keeps a connection's first subscribe frame small and its
	// pushes a small share of its bandwidth.
	streamsPerConn = 200
	// dialsPerSecond: "Requests per second per IP: 8, in bursts up to
	// 20". Connections are paced at half that, 4 a second with no burst,
	// leaving the rest to the subscribe frames (one per connection at
	// dial) and to other processes on the same address.
	dialsPerSecond = 4
)

// Limits implements collector.SubscriptionLimits.
func (a *Adapter) Limits() collector.Limits {
	return collector.Limits{
		StreamsPerConn: streamsPerConn,
		Dials:          collector.Pace{PerSecond: dialsPerSecond, Burst: 1},
	}
}

// Compile-time check that the adapter declares its limits.
var _ collector.SubscriptionLimits = (*Adapter)(nil)

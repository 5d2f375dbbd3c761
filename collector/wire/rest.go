package wire

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// REST client defaults, applied by RESTConfig.applyDefaults and nowhere
// else.
const (
	// DefaultRESTTimeout bounds one request of the default HTTP client.
	DefaultRESTTimeout = 30 * time.Second
	// DefaultUserAgent is sent when RESTConfig.UserAgent is empty.
	DefaultUserAgent = "marketetl"
	// DefaultMaxBody bounds a response body when RESTConfig.MaxBody is 0.
	DefaultMaxBody = 4 << 20
)

// RESTConfig is the REST client configuration every adapter shares. An
// adapter fills it from its own Config (its RESTURL, HTTPClient, Now,
// UserAgent and Budget fields, and its own DefaultRESTURL and MaxBody) and
// hands it to NewREST, which applies the defaults documented on each
// field and checks it.
type RESTConfig struct {
	// BaseURL is the exchange's REST base URL, scheme http or https,
	// without the API path the adapter appends (see BaseURL). Default: the
	// adapter's production URL, given to NewREST.
	BaseURL string
	// HTTPClient makes the requests. Default: a client with Timeout.
	HTTPClient *http.Client
	// Timeout bounds one request of the default client; ignored when
	// HTTPClient is set (its own Timeout applies). Default
	// DefaultRESTTimeout.
	Timeout time.Duration
	// UserAgent is sent as the User-Agent header. Default
	// DefaultUserAgent.
	UserAgent string
	// Budget, when set, is the exchange's shared request budget: every
	// request waits for it and 429/418 answers pause it (Budget.Transport
	// wraps the client's transport; the caller's client is not modified).
	// nil: the client is used as given, which is how a caller that already
	// wrapped HTTPClient's transport in a Budget passes it.
	Budget *Budget
	// MaxBody bounds one response body in bytes. Default DefaultMaxBody.
	MaxBody int64
	// Now is the clock for Retry-After dates and for the time a response
	// was received. Default time.Now.
	Now func() time.Time
}

// applyDefaults is the one place where REST defaults are applied.
func (c *RESTConfig) applyDefaults(defaultBaseURL string) {
	if c.BaseURL == "" {
		c.BaseURL = defaultBaseURL
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultRESTTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.Timeout}
	}
	if c.Budget != nil {
		hc := *c.HTTPClient
		hc.Transport = c.Budget.Transport(hc.Transport)
		c.HTTPClient = &hc
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// REST is an adapter's REST client: its checked base URL and the shared
// settings of RESTConfig. It is safe for concurrent use.
type REST struct {
	cfg RESTConfig
	// base is BaseURL without a trailing slash.
	base string
}

// NewREST applies cfg's defaults (defaultBaseURL for an empty BaseURL),
// checks the base URL (scheme http or https, none of apiPaths already in
// it; see BaseURL) and returns the client. Its error names the field to
// fix.
func NewREST(cfg RESTConfig, defaultBaseURL string, apiPaths ...string) (*REST, error) {
	cfg.applyDefaults(defaultBaseURL)
	base, err := BaseURL(cfg.BaseURL, "http", "https", apiPaths...)
	if err != nil {
		return nil, fmt.Errorf("RESTURL: %w", err)
	}
	return &REST{cfg: cfg, base: base}, nil
}

// Base returns the base URL without a trailing slash.
func (r *REST) Base() string { return r.base }

// Now returns the current time by the configured clock.
func (r *REST) Now() time.Time { return r.cfg.Now() }

// Get makes one GET request for JSON to the base URL followed by
// pathQuery (the exchange's path and encoded query, starting with '/'),
// with the configured User-Agent, and reads at most MaxBody bytes of the
// answer, whatever its status: the caller maps status and body to the
// exchange's errors. It returns an error for a request that cannot be
// built or sent, a body that cannot be read, and a body over MaxBody.
func (r *REST) Get(ctx context.Context, pathQuery string) (*http.Response, []byte, error) {
	return getJSON(ctx, r.cfg.HTTPClient, r.base+pathQuery, r.cfg.UserAgent, r.cfg.MaxBody, nil)
}

// GetSigned is Get with the extra request headers of a signed request
// (API key, signature, timestamp, passphrase). The headers are sent, never
// logged or kept.
// An error never carries the URL, whose query may hold a signature
// (Binance): a failed request's *url.Error is replaced by its cause.
func (r *REST) GetSigned(ctx context.Context, pathQuery string, header http.Header) (*http.Response, []byte, error) {
	resp, body, err := getJSON(ctx, r.cfg.HTTPClient, r.base+pathQuery, r.cfg.UserAgent, r.cfg.MaxBody, header)
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("signed %s request: %w", ue.Op, ue.Err)
	}
	return resp, body, err
}

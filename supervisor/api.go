package supervisor

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// APIConfig configures the admin HTTP API. Zero values take the defaults
// documented on each field.
type APIConfig struct {
	// Addr is the listen address (ETL_ADMIN_ADDR, default 127.0.0.1:8080).
	// A non-loopback address requires a Token.
	Addr string
	// Token is the bearer token that mutating endpoints require
	// (ETL_ADMIN_TOKEN), at least MinTokenLength characters. Without it
	// they answer 403.
	Token string
	// Reads is the cached database state that /readyz and GET /api/status
	// serve: requests never query the database themselves. Required; the
	// caller runs it (ReadCache.Run).
	Reads *ReadCache
	// Gatherer is served on /metrics (the registry that the supervisor's
	// and the other packages' metrics are registered in). Required.
	Gatherer prometheus.Gatherer
	// MaxBodyBytes limits request bodies; a larger one answers 413.
	// Default 1 MiB.
	MaxBodyBytes int64
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// HTTP server's. Defaults 5s, 30s, 60s and 120s.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds the graceful shutdown of the server once Run's
	// context ended; requests still running then are cut. Default 5s.
	ShutdownTimeout time.Duration
	// Components, when set, reports the health of the service's other
	// parts (the live feed, the store) in GET /api/status under
	// "components", keyed by part. Its values must hold no secrets.
	Components func() map[string]any
	// Secrets are redacted from every error text the API answers or logs,
	// as Config.Secrets. The Token is always redacted.
	Secrets []string
	// Log receives the API's logs; default a no-op logger.
	Log *zap.Logger
}

// DefaultAdminAddr is APIConfig.Addr's default.
const DefaultAdminAddr = "127.0.0.1:8080"

// MinTokenLength is the shortest admin token accepted: a short token can
// be guessed by anyone who can reach the API.
const MinTokenLength = 16

func (cfg *APIConfig) applyDefaults() {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAdminAddr
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	set(&cfg.ReadHeaderTimeout, 5*time.Second)
	set(&cfg.ReadTimeout, 30*time.Second)
	set(&cfg.WriteTimeout, 60*time.Second)
	set(&cfg.IdleTimeout, 120*time.Second)
	set(&cfg.ShutdownTimeout, 5*time.Second)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
}

// API is the admin HTTP API over a Manager.
type API struct {
	cfg APIConfig
	m   *Manager
	log *zap.Logger
	red *redactor
	// tokenSet says whether a token is configured; tokenSum is its SHA-256,
	// compared in constant time (the token itself is not kept).
	tokenSet bool
	tokenSum [sha256.Size]byte
	handler  http.Handler
	// port is the port a loopback server answers on, for the Host check
	// (Addr's, then the listener's once Serve runs); "" when the server
	// does not listen on loopback.
	port atomic.Pointer[string]
}

// NewAPI checks cfg and returns the API. It refuses a non-loopback Addr
// without a Token.
func NewAPI(cfg APIConfig, m *Manager) (*API, error) {
	cfg.applyDefaults()
	if m == nil || cfg.Reads == nil || cfg.Gatherer == nil {
		return nil, errors.New("new admin api: a manager, a read cache and a metrics gatherer are required")
	}
	if cfg.Token != "" && len(cfg.Token) < MinTokenLength {
		return nil, fmt.Errorf("new admin api: ETL_ADMIN_TOKEN is %d characters long; want at least %d (for example: openssl rand -hex 24)",
			len(cfg.Token), MinTokenLength)
	}
	if cfg.Token == "" && !isLoopback(cfg.Addr) {
		return nil, fmt.Errorf("new admin api: ETL_ADMIN_ADDR %s is not a loopback address: set ETL_ADMIN_TOKEN, or listen on 127.0.0.1", cfg.Addr)
	}
	a := &API{
		cfg:      cfg,
		m:        m,
		log:      cfg.Log,
		red:      newRedactor(append([]string{cfg.Token}, cfg.Secrets...)),
		tokenSet: cfg.Token != "",
		tokenSum: sha256.Sum256([]byte(cfg.Token)),
	}
	a.cfg.Token = "" // kept only as its hash
	a.setPort(cfg.Addr)
	a.handler = a.routes()
	return a, nil
}

// Handler returns the API's HTTP handler.
func (a *API) Handler() http.Handler { return a.handler }

// Run listens on Addr and serves until ctx ends, as Serve.
func (a *API) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("admin api: listen on %s: %w", a.cfg.Addr, err)
	}
	return a.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts the server down gracefully
// within ShutdownTimeout and returns nil; it returns an error if serving
// fails. It closes ln. It refuses a non-loopback listener without a token.
func (a *API) Serve(ctx context.Context, ln net.Listener) error {
	if !a.tokenSet && !isLoopback(ln.Addr().String()) {
		ln.Close()
		return fmt.Errorf("admin api: %s is not a loopback address: set ETL_ADMIN_TOKEN, or listen on 127.0.0.1", ln.Addr())
	}
	a.setPort(ln.Addr().String())
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.ReadTimeout,
		WriteTimeout:      a.cfg.WriteTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(a.log.Named("http")),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("admin api listening", zap.String("addr", ln.Addr().String()), zap.Bool("token_set", a.tokenSet))
	select {
	case err := <-errc:
		return fmt.Errorf("admin api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	<-errc // http.ErrServerClosed once Serve has returned
	if err != nil {
		return fmt.Errorf("admin api: shut down: %w", err)
	}
	return nil
}

// route is one endpoint.
type route struct {
	method, path string
	// mutating endpoints require the bearer token.
	mutating bool
	h        http.HandlerFunc
}

func (a *API) routes() http.Handler {
	rs := []route{
		{"GET", "/{$}", false, a.statusPage},
		{"GET", "/healthz", false, a.healthz},
		{"GET", "/readyz", false, a.readyz},
		{"GET", "/metrics", false, promhttp.HandlerFor(a.cfg.Gatherer, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(a.log.Named("metrics"))}).ServeHTTP},
		{"GET", "/api/status", false, a.status},
		{"GET", "/api/collectors", false, a.list},
		{"POST", "/api/collectors", true, a.add},
		{"GET", "/api/collectors/{name}", false, a.get},
		{"DELETE", "/api/collectors/{name}", true, a.remove},
		{"GET", "/api/collectors/{name}/health", false, a.health},
		{"POST", "/api/collectors/{name}/restart", true, a.restart},
		{"POST", "/api/collectors/{name}/enable", true, a.enable},
		{"POST", "/api/collectors/{name}/disable", true, a.disable},
		{"POST", "/api/collectors/{name}/symbols", true, a.addSymbol},
		{"DELETE", "/api/collectors/{name}/symbols/{symbol}", true, a.removeSymbol},
		{"POST", "/api/restart-all", true, a.restartAll},
	}
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, r := range rs {
		h := r.h
		if r.mutating {
			h = a.authorize(h)
		}
		mux.HandleFunc(r.method+" "+r.path, h)
		if _, seen := allowed[r.path]; !seen {
			paths = append(paths, r.path)
		}
		allowed[r.path] = append(allowed[r.path], r.method)
	}
	// The same paths without a method answer 405 in JSON; anything else 404.
	for _, p := range paths {
		allow := strings.Join(allowed[p], ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed; allowed: "+allow)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	return a.checkHost(a.limitBody(mux))
}

// limitBody caps every request body at MaxBodyBytes; a handler that reads
// past it gets an *http.MaxBytesError and answers 413.
func (a *API) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > a.cfg.MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, a.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// authorize lets a request through only with the configured bearer token.
func (a *API) authorize(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.tokenSet {
			writeError(w, http.StatusForbidden, "mutating endpoints are disabled: set ETL_ADMIN_TOKEN to enable them")
			return
		}
		got, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
			a.log.Warn("admin request refused: missing or wrong bearer token",
				zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", `Bearer realm="marketetl"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer <ETL_ADMIN_TOKEN>)")
			return
		}
		next(w, r)
	}
}

// bearer returns the credentials of an Authorization header of the Bearer
// scheme, whose name is case-insensitive (RFC 9110 section 11.1).
func bearer(h string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(cred), true
}

// setPort records the port of a loopback listen address for checkHost,
// or clears it for any other address.
func (a *API) setPort(addr string) {
	port := ""
	if isLoopback(addr) {
		_, port, _ = net.SplitHostPort(addr)
	}
	a.port.Store(&port)
}

// checkHost refuses, on a loopback server, a request whose Host header is
// not localhost, 127.0.0.1 or [::1] with the server's port: a web page
// that rebinds its own domain name to 127.0.0.1 (DNS rebinding) sends its
// domain in Host, and is refused before reaching any endpoint.
func (a *API) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if port := *a.port.Load(); port != "" && !loopbackHost(r.Host, port) {
			a.log.Warn("admin request refused: Host header is not a loopback name",
				zap.String("host", r.Host), zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
			writeError(w, http.StatusMisdirectedRequest,
				"Host header not accepted: this server answers only to localhost, 127.0.0.1 or [::1] on port "+port)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this loopback server:
// localhost, 127.0.0.1 or [::1], with port (which may be left out only
// when it is 80).
func loopbackHost(host, port string) bool {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h, p = strings.Trim(host, "[]"), "80"
	}
	if p != port {
		return false
	}
	return strings.EqualFold(h, "localhost") || h == "127.0.0.1" || h == "::1"
}

// isLoopback reports whether addr (host:port) listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

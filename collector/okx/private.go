package okx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/credentials"
	"marketetl/market"
)

// Private speaks OKX's private WebSocket service for balances: login
// (overview-websocket-login), then the account channel
// (trading-account-websocket-account-channel); and the signed REST
// GET /api/v5/account/balance (rest-api-get-balance) for snapshots.
//
// Private frames are few and nested, so they are decoded with
// encoding/json rather than the market-data scanner.
type Private struct {
	cfg  PrivateConfig
	rest *wire.REST
}

// Interface conformance.
var (
	_ collector.Protocol          = (*Private)(nil)
	_ collector.Authenticator     = (*Private)(nil)
	_ collector.Snapshotter       = (*Private)(nil)
	_ collector.ServerClock       = (*Private)(nil)
	_ collector.PermissionChecker = (*Private)(nil)
)

// DefaultPrivateURL is OKX's private WebSocket service.
const DefaultPrivateURL = "wss://ws.okx.com:8443/ws/v5/private"

// PrivateConfig configures a Private adapter.
type PrivateConfig struct {
	// URL is the private WebSocket service. Default DefaultPrivateURL.
	URL string
	// RESTURL is the REST base URL. Default DefaultRESTURL.
	RESTURL string
	// HTTPClient makes the signed REST requests. Default: the kit's client.
	HTTPClient *http.Client
	// Budget is the exchange's request budget (nil: none).
	Budget *wire.Budget
	// Credentials are the API key, secret and passphrase.
	Credentials credentials.Credentials
	// Account labels the balances ("main" by default).
	Account string
	// Now is the exchange's clock, used to time-stamp signatures (the
	// host's clock corrected by the measured skew). Default time.Now.
	Now func() time.Time
}

// NewPrivate checks cfg and returns a Private adapter.
func NewPrivate(cfg PrivateConfig) (*Private, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultPrivateURL
	}
	if cfg.Account == "" {
		cfg.Account = "main"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if err := wire.CheckWSURL(cfg.URL); err != nil {
		errs = append(errs, fmt.Errorf("URL: %w", err))
	}
	rest, err := wire.NewREST(wire.RESTConfig{BaseURL: cfg.RESTURL, HTTPClient: cfg.HTTPClient, Budget: cfg.Budget, MaxBody: maxBody},
		DefaultRESTURL, "/api/v5")
	if err != nil {
		errs = append(errs, err)
	}
	c := cfg.Credentials
	if c.Key.Empty() || c.Secret.Empty() || c.Passphrase.Empty() {
		errs = append(errs, fmt.Errorf("credentials %s: OKX needs an API key, a secret and a passphrase", c.Name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("okx private config: %w", err)
	}
	return &Private{cfg: cfg, rest: rest}, nil
}

// Exchange implements collector.Protocol.
func (p *Private) Exchange() market.Exchange { return market.OKX }

// balanceStream is the stream of this adapter's account.
func (p *Private) balanceStream() market.Stream {
	return market.Stream{Exchange: market.OKX, Type: market.TypeBalance, Symbol: market.Symbol(p.cfg.Account)}
}

// Plan implements collector.Protocol: one private connection for the
// account's balances.
func (p *Private) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	for _, s := range streams {
		if s.Type != market.TypeBalance {
			return nil, fmt.Errorf("okx private: %s: only balances are served on the private service: %w", s, collector.ErrPermanent)
		}
	}
	if len(streams) == 0 {
		return nil, nil
	}
	return []collector.ConnPlan{{Key: "private", URL: p.cfg.URL, Streams: []market.Stream{p.balanceStream()}}}, nil
}

// Login implements collector.Authenticator: the login frame, signed at the
// exchange's time in whole seconds.
func (p *Private) Login(collector.ConnPlan, uint64) ([][]byte, error) {
	ts := strconv.FormatInt(p.cfg.Now().Unix(), 10)
	c := p.cfg.Credentials
	frame, err := json.Marshal(map[string]any{"op": "login", "args": []map[string]string{{
		"apiKey": c.Key.Reveal(), "passphrase": c.Passphrase.Reveal(), "timestamp": ts, "sign": SignLogin(c.Secret, ts),
	}}})
	if err != nil {
		return nil, fmt.Errorf("build okx login frame: %w", err)
	}
	return [][]byte{frame}, nil
}

// Subscribe implements collector.Protocol: the account channel, every
// currency, pushed on events and as regular snapshots.
func (p *Private) Subscribe(_ collector.ConnPlan, _ []market.Stream, id uint64) ([][]byte, error) {
	return [][]byte{[]byte(`{"id":"` + strconv.FormatUint(id, 10) + `","op":"subscribe","args":[{"channel":"account"}]}`)}, nil
}

// Unsubscribe implements collector.Protocol.
func (p *Private) Unsubscribe(_ collector.ConnPlan, _ []market.Stream, id uint64) ([][]byte, error) {
	return [][]byte{[]byte(`{"id":"` + strconv.FormatUint(id, 10) + `","op":"unsubscribe","args":[{"channel":"account"}]}`)}, nil
}

// KeepAlive implements collector.Protocol: the same rules as the public
// service.
func (p *Private) KeepAlive() collector.KeepAlive {
	return collector.KeepAlive{PingText: pingText, PingAfter: pingAfter, ReadTimeout: readTimeout, SubscribeWithin: subscribeWithin}
}

// okxPrivateFrame is every private frame's possible fields.
type okxPrivateFrame struct {
	Event     string `json:"event"`
	Code      string `json:"code"`
	Msg       string `json:"msg"`
	EventType string `json:"eventType"`
	Arg       *struct {
		Channel string `json:"channel"`
	} `json:"arg"`
	Data []okxAccount `json:"data"`
}

type okxAccount struct {
	UTime   string `json:"uTime"`
	Details []struct {
		Ccy       string `json:"ccy"`
		AvailBal  string `json:"availBal"`
		FrozenBal string `json:"frozenBal"`
		UTime     string `json:"uTime"`
	} `json:"details"`
}

// loginCodes are the login refusals that retrying with the same key cannot
// cure (error-code-websocket-public).
var loginCodes = map[string]bool{
	"60004": true, // invalid timestamp
	"60005": true, // invalid apiKey
	"60007": true, // invalid sign
	"60009": true, // login failure
	"60024": true, // wrong passphrase
	"60032": true, // API key doesn't exist
}

// Decode implements collector.Protocol.
func (p *Private) Decode(frame []byte, received time.Time, ev *collector.Event) error {
	if string(frame) == "pong" {
		ev.Pong = true
		return nil
	}
	var f okxPrivateFrame
	if err := json.Unmarshal(frame, &f); err != nil {
		return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonMalformedJSON, Err: err}
	}
	switch f.Event {
	case "login":
		if f.Code == "0" {
			ev.LoggedIn = true
			return nil
		}
		ev.Err = &collector.ExchangeError{Exchange: market.OKX, Code: f.Code, Message: f.Msg, Permanent: loginCodes[f.Code],
			UnknownCode: !knownCode(f.Code)}
		return nil
	case "error":
		ev.Err = &collector.ExchangeError{Exchange: market.OKX, Code: f.Code, Message: f.Msg, Stream: p.balanceStream(), Permanent: loginCodes[f.Code],
			UnknownCode: !knownCode(f.Code)}
		return nil
	case "subscribe":
		ev.Acked = append(ev.Acked, p.balanceStream())
		return nil
	case "unsubscribe", "channel-conn-count", "notice":
		ev.Ignored = true
		return nil
	case "channel-conn-count-error":
		ev.Err = &collector.ExchangeError{Exchange: market.OKX, Code: f.Code, Message: "too many connections on the account channel", Stream: p.balanceStream()}
		return nil
	case "":
	default:
		return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonUnknownChannel, Field: "event", Err: fmt.Errorf("event %q", f.Event)}
	}
	if f.Arg == nil || f.Arg.Channel != "account" {
		return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonUnknownChannel, Field: "arg"}
	}
	return p.appendBalances(ev, f.Data, received)
}

// appendBalances turns account data into Balance records: free = availBal,
// locked = frozenBal, time = the currency's uTime.
func (p *Private) appendBalances(ev *collector.Event, data []okxAccount, received time.Time) error {
	for _, acct := range data {
		for _, d := range acct.Details {
			b, err := p.balance(d.Ccy, d.AvailBal, d.FrozenBal, d.UTime, received)
			if err != nil {
				return err
			}
			ev.Records = append(ev.Records, b)
		}
	}
	return nil
}

func (p *Private) balance(ccy, avail, frozen, uTime string, received time.Time) (*market.Balance, error) {
	bad := func(field string, err error) error {
		return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonBadNumber, Field: field, Err: err}
	}
	free, err := wire.ParseDecimal([]byte(avail))
	if err != nil {
		return nil, bad("availBal", err)
	}
	locked := decimal.Zero
	if frozen != "" {
		if locked, err = wire.ParseDecimal([]byte(frozen)); err != nil {
			return nil, bad("frozenBal", err)
		}
	}
	ms, err := strconv.ParseInt(uTime, 10, 64)
	if err != nil || ms <= 0 {
		return nil, &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonBadTimestamp, Field: "uTime", Err: err}
	}
	return &market.Balance{
		Meta:    market.Meta{Exchange: market.OKX, Symbol: market.Symbol(ccy), Time: time.UnixMilli(ms).UTC(), Received: received},
		Account: p.cfg.Account, Free: free, Locked: locked,
	}, nil
}

// signedGet sends a signed REST GET of path (with its query) and returns
// the body of a successful answer.
func (p *Private) signedGet(ctx context.Context, path string) ([]byte, time.Time, error) {
	ts := p.cfg.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	c := p.cfg.Credentials
	// OKX signs the API path (with its query), whatever prefix the base
	// URL has.
	resp, body, err := p.rest.GetSigned(ctx, path, http.Header{
		"Ok-Access-Key": {c.Key.Reveal()}, "Ok-Access-Passphrase": {c.Passphrase.Reveal()},
		"Ok-Access-Timestamp": {ts}, "Ok-Access-Sign": {SignREST(c.Secret, ts, http.MethodGet, path, "")},
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("GET %s: %w", path, err)
	}
	received := time.Now().UTC()
	code, msg, ok := envelope(body)
	if resp.StatusCode == http.StatusOK && ok && code == "0" {
		return body, received, nil
	}
	if code == "50102" || code == "50112" {
		// The timestamp was refused: the clock is off, which a new skew
		// measurement cures; not a bad key.
		return nil, time.Time{}, fmt.Errorf("GET %s: %w", path, &collector.ExchangeError{Exchange: market.OKX, Code: code, Message: msg})
	}
	if err := classifyREST(resp, code, msg, ok, received); err != nil {
		return nil, time.Time{}, fmt.Errorf("GET %s: %w", path, err)
	}
	return nil, time.Time{}, fmt.Errorf("GET %s: HTTP %s without an OKX response", path, resp.Status)
}

// Snapshot implements collector.Snapshotter: every non-zero currency of
// the account (GET /api/v5/account/balance). OKX omits zero balances.
func (p *Private) Snapshot(ctx context.Context, _ []market.Stream) ([]market.Record, error) {
	body, received, err := p.signedGet(ctx, "/api/v5/account/balance")
	if err != nil {
		return nil, fmt.Errorf("okx balance snapshot: %w", err)
	}
	var resp struct {
		Data []okxAccount `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("okx balance snapshot: decode: %w", err)
	}
	var ev collector.Event
	if err := p.appendBalances(&ev, resp.Data, received); err != nil {
		return nil, fmt.Errorf("okx balance snapshot: %w", err)
	}
	return ev.Records, nil
}

// ServerTime implements collector.ServerClock (GET /api/v5/public/time).
func (p *Private) ServerTime(ctx context.Context) (time.Time, error) { return serverTime(ctx, p.rest) }

// KeyPermissions implements collector.PermissionChecker: the perm field of
// GET /api/v5/account/config ("read_only", "trade", "withdraw").
func (p *Private) KeyPermissions(ctx context.Context) (collector.Permissions, error) {
	body, _, err := p.signedGet(ctx, "/api/v5/account/config")
	if err != nil {
		return collector.Permissions{}, fmt.Errorf("okx key permissions: %w", err)
	}
	var r struct {
		Data []struct {
			Perm string `json:"perm"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Data) == 0 {
		return collector.Permissions{}, fmt.Errorf("okx key permissions: unexpected answer")
	}
	perms := collector.Permissions{Known: true}
	for _, perm := range strings.Split(r.Data[0].Perm, ",") {
		switch perm {
		case "trade":
			perms.Trade = true
		case "withdraw":
			perms.Withdraw = true
		}
	}
	return perms, nil
}

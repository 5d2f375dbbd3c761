package binance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/credentials"
	"marketetl/market"
)

// Private speaks Binance spot's user data stream for balances, through the
// WebSocket API (web-socket-api.md "userDataStream.subscribe.signature":
// no login, any key kind; the listenKey endpoints were switched off on
// 2026-02-20), with events wrapped as {"subscriptionId":N,"event":{...}}
// (user-data-stream.md); and the signed REST GET /api/v3/account for
// snapshots.
//
// Private frames are few, so they are decoded with encoding/json rather
// than the market-data scanner.
type Private struct {
	cfg    PrivateConfig
	signer *Signer
	rest   *Adapter // REST base URL and error classification
}

// Interface conformance.
var (
	_ collector.Protocol          = (*Private)(nil)
	_ collector.Snapshotter       = (*Private)(nil)
	_ collector.ServerClock       = (*Private)(nil)
	_ collector.PermissionChecker = (*Private)(nil)
)

// DefaultWSAPIURL is Binance's WebSocket API.
const DefaultWSAPIURL = "wss://ws-api.binance.com:443/ws-api/v3"

// recvWindow is how long after its timestamp a signed request stays valid
// (milliseconds; Binance's default is 5000, its maximum 60000).
const recvWindow = "10000"

// PrivateConfig configures a Private adapter.
type PrivateConfig struct {
	// URL is the WebSocket API. Default DefaultWSAPIURL.
	URL string
	// RESTURL is the REST base URL. Default DefaultRESTURL.
	RESTURL string
	// HTTPClient makes the signed REST requests (within the exchange's
	// request-weight budget: /api/v3/account weighs 20).
	HTTPClient *http.Client
	// Budget is the exchange's request-weight budget (nil: none).
	Budget *wire.Budget
	// Credentials are the API key and its secret: an HMAC secret or a PEM
	// Ed25519 or RSA private key.
	Credentials credentials.Credentials
	// Account labels the balances ("main" by default).
	Account string
	// Now is the exchange's clock, used to time-stamp signatures. Default time.Now.
	Now func() time.Time
}

// NewPrivate checks cfg and returns a Private adapter.
func NewPrivate(cfg PrivateConfig) (*Private, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultWSAPIURL
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
	rest, err := New(Config{RESTURL: cfg.RESTURL, HTTPClient: cfg.HTTPClient, Budget: cfg.Budget, Now: cfg.Now})
	if err != nil {
		errs = append(errs, err)
	}
	var signer *Signer
	if cfg.Credentials.Key.Empty() {
		errs = append(errs, fmt.Errorf("credentials %s: Binance needs an API key", cfg.Credentials.Name))
	} else if signer, err = NewSigner(cfg.Credentials.Secret); err != nil {
		errs = append(errs, fmt.Errorf("credentials %s: %w", cfg.Credentials.Name, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("binance private config: %w", err)
	}
	return &Private{cfg: cfg, signer: signer, rest: rest}, nil
}

// Exchange implements collector.Protocol.
func (p *Private) Exchange() market.Exchange { return market.Binance }

func (p *Private) balanceStream() market.Stream {
	return market.Stream{Exchange: market.Binance, Type: market.TypeBalance, Symbol: market.Symbol(p.cfg.Account)}
}

// Plan implements collector.Protocol: one WebSocket API connection.
func (p *Private) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	for _, s := range streams {
		if s.Type != market.TypeBalance {
			return nil, fmt.Errorf("binance private: %s: only balances are served on the WebSocket API: %w", s, collector.ErrPermanent)
		}
	}
	if len(streams) == 0 {
		return nil, nil
	}
	return []collector.ConnPlan{{Key: "user", URL: p.cfg.URL, Streams: []market.Stream{p.balanceStream()}}}, nil
}

// Subscribe implements collector.Protocol: userDataStream.subscribe.signature,
// signed at the exchange's time.
func (p *Private) Subscribe(_ collector.ConnPlan, _ []market.Stream, id uint64) ([][]byte, error) {
	key := p.cfg.Credentials.Key.Reveal()
	ts := strconv.FormatInt(p.cfg.Now().UnixMilli(), 10)
	sig, err := p.signer.Sign(WSPayload([]Param{{"apiKey", key}, {"recvWindow", recvWindow}, {"timestamp", ts}}))
	if err != nil {
		return nil, fmt.Errorf("sign binance user data subscription: %w", err)
	}
	frame := `{"id":"sub-` + strconv.FormatUint(id, 10) + `","method":"userDataStream.subscribe.signature","params":{"apiKey":` +
		strconv.Quote(key) + `,"recvWindow":` + recvWindow + `,"timestamp":` + ts + `,"signature":` + strconv.Quote(sig) + `}}`
	return [][]byte{[]byte(frame)}, nil
}

// Unsubscribe implements collector.Protocol.
func (p *Private) Unsubscribe(_ collector.ConnPlan, _ []market.Stream, id uint64) ([][]byte, error) {
	return [][]byte{[]byte(`{"id":"unsub-` + strconv.FormatUint(id, 10) + `","method":"userDataStream.unsubscribe"}`)}, nil
}

// KeepAlive implements collector.Protocol: the server pings every 20 s
// (answered by the loop) and a connection lives at most 24 hours.
func (p *Private) KeepAlive() collector.KeepAlive {
	return collector.KeepAlive{ReadTimeout: readTimeout, MaxLifetime: maxLifetime, MaxSendPerSecond: maxSendPerSecond}
}

// privateFrame holds every field of a WebSocket API response or a wrapped
// user data event.
type privateFrame struct {
	ID     json.RawMessage `json:"id"`
	Status int             `json:"status"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"error"`
	SubscriptionID *int `json:"subscriptionId"`
	Event          *struct {
		E        string `json:"e"`
		EventMS  int64  `json:"E"`
		UpdateMS int64  `json:"u"`
		B        []struct {
			A string `json:"a"`
			F string `json:"f"`
			L string `json:"l"`
		} `json:"B"`
	} `json:"event"`
}

// permanentCodes are the refusals that the same key cannot overcome
// (errors.md): a bad key format, a refused key, a bad signature.
var permanentCodes = map[int]bool{-2014: true, -2015: true, -1022: true}

// Decode implements collector.Protocol.
func (p *Private) Decode(frame []byte, received time.Time, ev *collector.Event) error {
	var f privateFrame
	if err := json.Unmarshal(frame, &f); err != nil {
		return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonMalformedJSON, Err: err}
	}
	switch {
	case f.Error != nil:
		ev.Err = &collector.ExchangeError{Exchange: market.Binance, Code: strconv.Itoa(f.Error.Code), Message: f.Error.Msg,
			Stream: p.balanceStream(), Permanent: permanentCodes[f.Error.Code]}
		return nil
	case f.Status == http.StatusOK && len(f.ID) > 0:
		var r struct {
			SubscriptionID *int `json:"subscriptionId"`
		}
		if json.Unmarshal(f.Result, &r) == nil && r.SubscriptionID != nil {
			ev.Acked = append(ev.Acked, p.balanceStream())
		} else {
			ev.Ignored = true
		}
		return nil
	case f.Event == nil:
		return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonUnknownChannel, Err: errors.New("neither a response nor an event")}
	}
	e := f.Event
	switch e.E {
	case "outboundAccountPosition":
		ts := e.UpdateMS
		if ts == 0 {
			ts = e.EventMS
		}
		if ts <= 0 {
			return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonBadTimestamp, Field: "u"}
		}
		for _, b := range e.B {
			rec, err := p.balance(b.A, b.F, b.L, time.UnixMilli(ts), received)
			if err != nil {
				return err
			}
			ev.Records = append(ev.Records, rec)
		}
	case "balanceUpdate", "externalLockUpdate", "executionReport", "listStatus":
		// Deltas and orders: the absolute balances follow in an
		// outboundAccountPosition ("sent any time an account balance has
		// changed").
		ev.Ignored = true
	case "eventStreamTerminated", "serverShutdown":
		ev.Reconnect = true
	default:
		return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonUnknownChannel, Field: "e", Err: fmt.Errorf("event %q", e.E)}
	}
	return nil
}

func (p *Private) balance(asset, free, locked string, ts, received time.Time) (*market.Balance, error) {
	f, err := wire.ParseDecimal([]byte(free))
	if err != nil {
		return nil, &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonBadNumber, Field: "f", Err: err}
	}
	l, err := wire.ParseDecimal([]byte(locked))
	if err != nil {
		return nil, &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonBadNumber, Field: "l", Err: err}
	}
	return &market.Balance{Meta: market.Meta{Exchange: market.Binance, Symbol: market.Symbol(asset), Time: ts.UTC(), Received: received},
		Account: p.cfg.Account, Free: f, Locked: l}, nil
}

// account reads the signed GET /api/v3/account.
func (p *Private) account(ctx context.Context) (accountInfo, time.Time, error) {
	q := "omitZeroBalances=true&recvWindow=" + recvWindow + "&timestamp=" + strconv.FormatInt(p.cfg.Now().UnixMilli(), 10)
	sig, err := p.signer.Sign(q)
	if err != nil {
		return accountInfo{}, time.Time{}, fmt.Errorf("sign account request: %w", err)
	}
	resp, body, err := p.rest.rest.GetSigned(ctx, "/api/v3/account?"+q+"&signature="+url.QueryEscape(sig),
		http.Header{"X-Mbx-Apikey": {p.cfg.Credentials.Key.Reveal()}})
	if err != nil {
		return accountInfo{}, time.Time{}, fmt.Errorf("GET /api/v3/account: %w", err)
	}
	received := time.Now().UTC()
	if resp.StatusCode != http.StatusOK {
		err := p.rest.statusError(resp, body)
		var ae *APIError
		if errors.As(err, &ae) && permanentCodes[ae.Code] && !errors.Is(err, collector.ErrPermanent) {
			// -1022 (bad signature) is in Binance's 10xx range, which the
			// market-data client treats as transient; with a key it means
			// the secret is wrong. A refused timestamp (-1021) stays
			// transient: the clock is measured again.
			err = fmt.Errorf("%w: %w", err, collector.ErrPermanent)
		}
		return accountInfo{}, time.Time{}, fmt.Errorf("GET /api/v3/account: %w", err)
	}
	var info accountInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return accountInfo{}, time.Time{}, fmt.Errorf("GET /api/v3/account: decode: %w", err)
	}
	return info, received, nil
}

type accountInfo struct {
	CanTrade    bool  `json:"canTrade"`
	CanWithdraw bool  `json:"canWithdraw"`
	UpdateTime  int64 `json:"updateTime"`
	Balances    []struct {
		Asset  string `json:"asset"`
		Free   string `json:"free"`
		Locked string `json:"locked"`
	} `json:"balances"`
}

// Snapshot implements collector.Snapshotter: the non-zero balances of GET
// /api/v3/account at its updateTime.
func (p *Private) Snapshot(ctx context.Context, _ []market.Stream) ([]market.Record, error) {
	info, received, err := p.account(ctx)
	if err != nil {
		return nil, fmt.Errorf("binance balance snapshot: %w", err)
	}
	ts := time.UnixMilli(info.UpdateTime)
	if info.UpdateTime <= 0 {
		ts = received
	}
	out := make([]market.Record, 0, len(info.Balances))
	for _, b := range info.Balances {
		rec, err := p.balance(b.Asset, b.Free, b.Locked, ts, received)
		if err != nil {
			return nil, fmt.Errorf("binance balance snapshot: %w", err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// KeyPermissions implements collector.PermissionChecker (canTrade,
// canWithdraw of GET /api/v3/account).
func (p *Private) KeyPermissions(ctx context.Context) (collector.Permissions, error) {
	info, _, err := p.account(ctx)
	if err != nil {
		return collector.Permissions{}, fmt.Errorf("binance key permissions: %w", err)
	}
	return collector.Permissions{Known: true, Trade: info.CanTrade, Withdraw: info.CanWithdraw}, nil
}

// ServerTime implements collector.ServerClock (GET /api/v3/time).
func (p *Private) ServerTime(ctx context.Context) (time.Time, error) { return p.rest.ServerTime(ctx) }

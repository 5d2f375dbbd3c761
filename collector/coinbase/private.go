package coinbase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/credentials"
	"marketetl/market"
)

// Private speaks Coinbase Exchange's authenticated feed for balances: the
// balance channel, subscribed by account id with the key, passphrase,
// timestamp and signature inside the subscribe message (websocket-feed/
// authentication, websocket-channels#balance-channel); and the signed REST
// GET /accounts, which lists the account ids and serves as the snapshot.
// The channel "does not track every update", so the periodic REST
// reconciliation matters most here.
//
// Private frames are few, so they are decoded with encoding/json rather
// than the market-data scanner.
type Private struct {
	cfg  PrivateConfig
	rest *Adapter

	mu       sync.Mutex // guards accounts
	accounts []string   // account ids from the latest GET /accounts
}

// Interface conformance.
var (
	_ collector.Protocol    = (*Private)(nil)
	_ collector.Preparer    = (*Private)(nil)
	_ collector.Snapshotter = (*Private)(nil)
	_ collector.ServerClock = (*Private)(nil)
)

// PrivateConfig configures a Private adapter.
type PrivateConfig struct {
	// URL is the WebSocket feed. Default DefaultWSURL.
	URL string
	// RESTURL is the REST base URL. Default DefaultRESTURL.
	RESTURL string
	// HTTPClient makes the signed REST requests.
	HTTPClient *http.Client
	// Budget is the exchange's request budget (nil: none).
	Budget *wire.Budget
	// Credentials are the API key, its Base64 secret and the passphrase.
	Credentials credentials.Credentials
	// Account labels the balances ("main" by default).
	Account string
	// HeartbeatProduct is subscribed on the heartbeat channel so that a
	// quiet account still proves the connection alive. Default BTC-USD.
	HeartbeatProduct string
	// Now is the exchange's clock, used to time-stamp signatures. Default time.Now.
	Now func() time.Time
}

// NewPrivate checks cfg and returns a Private adapter.
func NewPrivate(cfg PrivateConfig) (*Private, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultWSURL
	}
	if cfg.Account == "" {
		cfg.Account = "main"
	}
	if cfg.HeartbeatProduct == "" {
		cfg.HeartbeatProduct = "BTC-USD"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if err := wire.CheckWSURL(cfg.URL); err != nil {
		errs = append(errs, fmt.Errorf("URL: %w", err))
	}
	rest, err := New(Config{WSURL: cfg.URL, RESTURL: cfg.RESTURL, HTTPClient: cfg.HTTPClient, Budget: cfg.Budget, Now: cfg.Now})
	if err != nil {
		errs = append(errs, err)
	}
	c := cfg.Credentials
	if c.Key.Empty() || c.Secret.Empty() || c.Passphrase.Empty() {
		errs = append(errs, fmt.Errorf("credentials %s: Coinbase needs an API key, a secret and a passphrase", c.Name))
	} else if _, err := SignFeed(c.Secret, "0"); err != nil {
		errs = append(errs, fmt.Errorf("credentials %s: %w", c.Name, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("coinbase private config: %w", err)
	}
	return &Private{cfg: cfg, rest: rest}, nil
}

// Exchange implements collector.Protocol.
func (p *Private) Exchange() market.Exchange { return market.Coinbase }

func (p *Private) balanceStream() market.Stream {
	return market.Stream{Exchange: market.Coinbase, Type: market.TypeBalance, Symbol: market.Symbol(p.cfg.Account)}
}

// Plan implements collector.Protocol: one authenticated connection.
func (p *Private) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	for _, s := range streams {
		if s.Type != market.TypeBalance {
			return nil, fmt.Errorf("coinbase private: %s: only balances are collected with keys: %w", s, collector.ErrPermanent)
		}
	}
	if len(streams) == 0 {
		return nil, nil
	}
	return []collector.ConnPlan{{Key: "balance", URL: p.cfg.URL, Streams: []market.Stream{p.balanceStream()}}}, nil
}

// Prepare implements collector.Preparer: it reads the account ids.
func (p *Private) Prepare(ctx context.Context) error {
	_, err := p.Snapshot(ctx, nil)
	return err
}

// timestamp is the exchange's time in seconds with milliseconds, as text.
func (p *Private) timestamp() string {
	return strconv.FormatFloat(float64(p.cfg.Now().UnixMilli())/1000, 'f', 3, 64)
}

// Subscribe implements collector.Protocol: the balance channel for every
// account id of the latest GET /accounts, and heartbeats, signed.
func (p *Private) Subscribe(_ collector.ConnPlan, _ []market.Stream, _ uint64) ([][]byte, error) {
	return p.request("subscribe")
}

// Unsubscribe implements collector.Protocol.
func (p *Private) Unsubscribe(_ collector.ConnPlan, _ []market.Stream, _ uint64) ([][]byte, error) {
	return p.request("unsubscribe")
}

func (p *Private) request(typ string) ([][]byte, error) {
	p.mu.Lock()
	ids := append([]string(nil), p.accounts...)
	p.mu.Unlock()
	if len(ids) == 0 {
		return nil, errors.New("coinbase balance channel: no account ids yet (GET /accounts has not answered)")
	}
	ts := p.timestamp()
	c := p.cfg.Credentials
	sig, err := SignFeed(c.Secret, ts)
	if err != nil {
		return nil, err
	}
	frame, err := json.Marshal(map[string]any{
		"type": typ,
		"channels": []any{
			map[string]any{"name": "balance", "account_ids": ids},
			map[string]any{"name": "heartbeat", "product_ids": []string{p.cfg.HeartbeatProduct}},
		},
		"signature": sig, "key": c.Key.Reveal(), "passphrase": c.Passphrase.Reveal(), "timestamp": ts,
	})
	if err != nil {
		return nil, fmt.Errorf("build coinbase %s frame: %w", typ, err)
	}
	return [][]byte{frame}, nil
}

// KeepAlive implements collector.Protocol.
func (p *Private) KeepAlive() collector.KeepAlive {
	return collector.KeepAlive{ReadTimeout: readTimeout, SubscribeWithin: subscribeWithin, MaxSendPerSecond: maxSendPerSecond}
}

// privateFrame holds the fields of every frame of the authenticated
// connection.
type privateFrame struct {
	Type      string      `json:"type"`
	Message   string      `json:"message"`
	Reason    string      `json:"reason"`
	AccountID string      `json:"account_id"`
	Currency  string      `json:"currency"`
	Holds     json.Number `json:"holds"`
	Available json.Number `json:"available"`
	Updated   string      `json:"updated"`
	Timestamp string      `json:"timestamp"`
	Time      string      `json:"time"`
	Channels  []json.RawMessage
}

// permanentReasons are the authentication refusals the same key cannot
// overcome (the REST texts; the feed's are undocumented beyond "invalid
// signature").
var permanentReasons = map[string]bool{"invalid signature": true, "Invalid API Key": true, "Invalid Passphrase": true}

// Decode implements collector.Protocol.
func (p *Private) Decode(frame []byte, received time.Time, ev *collector.Event) error {
	var f privateFrame
	dec := json.NewDecoder(strings.NewReader(string(frame)))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonMalformedJSON, Err: err}
	}
	switch f.Type {
	case "balance":
		rec, err := p.balance(f, received)
		if err != nil {
			return err
		}
		ev.Records = append(ev.Records, rec)
	case "subscriptions":
		if strings.Contains(string(frame), `"balance"`) {
			ev.Acked = append(ev.Acked, p.balanceStream())
		} else {
			ev.Ignored = true
		}
	case "heartbeat":
		ev.Heartbeat = true
	case "error":
		ev.Err = &collector.ExchangeError{Exchange: market.Coinbase, Message: f.Message + ": " + f.Reason, Stream: p.balanceStream(),
			Permanent: permanentReasons[f.Reason], UnknownCode: !knownError(f.Reason)}
	default:
		return &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonUnknownChannel, Field: "type", Err: fmt.Errorf("type %q", f.Type)}
	}
	return nil
}

// balance reads a balance message: free = available, locked = holds (the
// REST field is hold), time = updated, or the message's timestamp for an
// account never changed (updated is then Go's zero time).
func (p *Private) balance(f privateFrame, received time.Time) (*market.Balance, error) {
	free, err := wire.ParseDecimal([]byte(f.Available))
	if err != nil {
		return nil, &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonBadNumber, Field: "available", Err: err}
	}
	locked, err := wire.ParseDecimal([]byte(f.Holds))
	if err != nil {
		return nil, &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonBadNumber, Field: "holds", Err: err}
	}
	ts, err := time.Parse(time.RFC3339Nano, f.Updated)
	if err != nil || ts.Year() < 2000 {
		if ts, err = time.Parse(time.RFC3339Nano, f.Timestamp); err != nil {
			return nil, &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonBadTimestamp, Field: "timestamp", Err: err}
		}
	}
	if f.Currency == "" {
		return nil, &collector.DecodeError{Stream: p.balanceStream(), Reason: collector.ReasonBadField, Field: "currency"}
	}
	return &market.Balance{Meta: market.Meta{Exchange: market.Coinbase, Symbol: market.Symbol(f.Currency), Time: ts.UTC(), Received: received},
		Account: p.cfg.Account, Free: free, Locked: locked}, nil
}

// Snapshot implements collector.Snapshotter: every account of GET
// /accounts (zero balances included), at the exchange's time of the
// request, since the answer carries none. It also refreshes the account
// ids the balance channel is subscribed by.
func (p *Private) Snapshot(ctx context.Context, _ []market.Stream) ([]market.Record, error) {
	ts := p.timestamp()
	asOf := p.cfg.Now().UTC().Truncate(time.Millisecond)
	c := p.cfg.Credentials
	sig, err := SignREST(c.Secret, ts, http.MethodGet, "/accounts", "")
	if err != nil {
		return nil, err
	}
	resp, body, err := p.rest.rest.GetSigned(ctx, "/accounts", http.Header{
		"Cb-Access-Key": {c.Key.Reveal()}, "Cb-Access-Sign": {sig},
		"Cb-Access-Timestamp": {ts}, "Cb-Access-Passphrase": {c.Passphrase.Reveal()},
	})
	if err != nil {
		return nil, fmt.Errorf("coinbase GET /accounts: %w", err)
	}
	received := time.Now().UTC()
	if resp.StatusCode != http.StatusOK {
		err := p.rest.statusError(resp, body)
		if resp.StatusCode == http.StatusUnauthorized && !strings.Contains(string(body), "timestamp") {
			err = fmt.Errorf("%w: %w", err, collector.ErrPermanent)
		}
		return nil, fmt.Errorf("coinbase GET /accounts: %w", err)
	}
	var accounts []struct {
		ID        string      `json:"id"`
		Currency  string      `json:"currency"`
		Hold      json.Number `json:"hold"`
		Available json.Number `json:"available"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&accounts); err != nil {
		return nil, fmt.Errorf("coinbase GET /accounts: decode: %w", err)
	}
	out := make([]market.Record, 0, len(accounts))
	ids := make([]string, 0, len(accounts))
	for _, a := range accounts {
		rec, err := p.balance(privateFrame{Currency: a.Currency, Available: a.Available, Holds: a.Hold, Timestamp: asOf.Format(time.RFC3339Nano)}, received)
		if err != nil {
			return nil, fmt.Errorf("coinbase GET /accounts: %w", err)
		}
		out = append(out, rec)
		ids = append(ids, a.ID)
	}
	p.mu.Lock()
	p.accounts = ids
	p.mu.Unlock()
	return out, nil
}

// ServerTime implements collector.ServerClock (GET /time).
func (p *Private) ServerTime(ctx context.Context) (time.Time, error) { return p.rest.ServerTime(ctx) }

// Package spec is the configuration of one collector, as the collectors
// file (ETL_CONFIG), the admin API and the registry table hold it: which
// exchange, symbols, data types and timeframes, and the supervisor's
// per-collector settings. It imports only market, so that the store, the
// configuration and the supervisor can speak of collectors without
// importing the collector loop.
package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"marketetl/market"
)

// Collector is one collector's configuration, in the shape of the YAML file
// (ETL_CONFIG) and of the admin API's JSON body.
type Collector struct {
	// Name identifies the collector; unique, [a-z0-9_-], at most 64 characters.
	Name string `yaml:"name" json:"name"`
	// Exchange is okx, binance or coinbase.
	Exchange market.Exchange `yaml:"exchange" json:"exchange"`
	// Symbols are normalised BASE-QUOTE symbols.
	Symbols []market.Symbol `yaml:"symbols" json:"symbols"`
	// DataTypes are among ticker, trade and candle; or just balance.
	DataTypes []market.DataType `yaml:"data_types" json:"data_types"`
	// Timeframes are the candle timeframes, required when DataTypes has candle.
	Timeframes []market.Timeframe `yaml:"timeframes,omitempty" json:"timeframes,omitempty"`
	// AutoRestart lets the supervisor restart the collector when unhealthy.
	// Nil means true.
	AutoRestart *bool `yaml:"auto_restart,omitempty" json:"auto_restart,omitempty"`
	// HealthCheckInterval overrides DEFAULT_HEALTH_CHECK_INTERVAL; 0 means the default.
	HealthCheckInterval Duration `yaml:"health_check_interval,omitempty" json:"health_check_interval,omitempty"`
	// MaxSilence overrides MAX_SILENCE_DURATION for the whole collector; 0 means the default.
	MaxSilence Duration `yaml:"max_silence_duration,omitempty" json:"max_silence_duration,omitempty"`
	// MaxSilenceByType overrides MaxSilence per data type (quiet markets are quiet).
	MaxSilenceByType map[market.DataType]Duration `yaml:"max_silence_by_type,omitempty" json:"max_silence_by_type,omitempty"`
	// Enabled is whether the collector should run. Nil means true.
	Enabled *bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// BookDepth is the number of levels per side of the stored and
	// published order books; 0 means DefaultBookDepth. At most
	// MaxBookDepth of the exchange's book channel.
	BookDepth int `yaml:"book_depth,omitempty" json:"book_depth,omitempty"`
	// BookInterval is how often a book snapshot row is stored per symbol;
	// 0 means DefaultBookInterval.
	BookInterval Duration `yaml:"book_interval,omitempty" json:"book_interval,omitempty"`
	// BookPublishInterval is how often at most the live feed carries a
	// symbol's book; 0 means DefaultBookPublishInterval.
	BookPublishInterval Duration `yaml:"book_publish_interval,omitempty" json:"book_publish_interval,omitempty"`
	// BookUpdates stores every book level change in book_updates.
	BookUpdates bool `yaml:"book_updates,omitempty" json:"book_updates,omitempty"`

	// A balance collector (DataTypes is just balance) reads one account's
	// balances over the exchange's private stream, and has no symbols.

	// Account labels the account, stored with each balance row; default
	// "main" (DefaultAccount). Several accounts are several collectors.
	Account string `yaml:"account,omitempty" json:"account,omitempty"`
	// Credentials names the API keys: read from <NAME>_API_KEY,
	// <NAME>_API_SECRET and <NAME>_API_PASSPHRASE (or each *_FILE). It is a
	// name, never a key. Required for balance; on a Coinbase collector
	// with orderbook, it makes the order books use the authenticated
	// level2 channel (level2_batch without it).
	Credentials string `yaml:"credentials,omitempty" json:"credentials,omitempty"`
	// Publish puts the balances on the live feed (Redis), which they are
	// not by default: they are private.
	Publish bool `yaml:"publish,omitempty" json:"publish,omitempty"`
	// ReconcileInterval is how often the balances built from the stream
	// are compared with the exchange's REST snapshot; 0 means 5m.
	ReconcileInterval Duration `yaml:"reconcile_interval,omitempty" json:"reconcile_interval,omitempty"`
}

// The order book defaults.
const (
	DefaultBookDepth           = 20
	DefaultBookInterval        = Duration(time.Second)
	DefaultBookPublishInterval = Duration(100 * time.Millisecond)
	// MinBookInterval bounds book_interval and book_publish_interval from
	// below: a row or a message per symbol every millisecond is a mistake.
	MinBookInterval = Duration(10 * time.Millisecond)
)

// MaxBookDepth returns the most levels per side that exchange e's book
// channel gives (OKX books: 400; Binance diff depth with its REST snapshot:
// 5000; Coinbase level2: the full book, bounded here at 1000), or 0 for an
// unknown exchange.
func MaxBookDepth(e market.Exchange) int {
	switch e {
	case market.OKX:
		return 400
	case market.Binance:
		return 5000
	case market.Coinbase:
		return 1000
	}
	return 0
}

// Depth returns BookDepth or its default.
func (s *Collector) Depth() int {
	if s.BookDepth == 0 {
		return DefaultBookDepth
	}
	return s.BookDepth
}

// BookEvery returns BookInterval or its default.
func (s *Collector) BookEvery() time.Duration {
	if s.BookInterval == 0 {
		return DefaultBookInterval.Std()
	}
	return s.BookInterval.Std()
}

// BookPublishEvery returns BookPublishInterval or its default.
func (s *Collector) BookPublishEvery() time.Duration {
	if s.BookPublishInterval == 0 {
		return DefaultBookPublishInterval.Std()
	}
	return s.BookPublishInterval.Std()
}

// HasType reports whether s collects data type t.
func (s *Collector) HasType(t market.DataType) bool {
	for _, dt := range s.DataTypes {
		if dt == t {
			return true
		}
	}
	return false
}

// UsesBookKeys reports whether a market data collector's order books can
// use API keys: a Coinbase collector with orderbook (the authenticated
// level2 channel).
func (s *Collector) UsesBookKeys() bool {
	return s.Exchange == market.Coinbase && s.HasType(market.TypeOrderBook) && !s.IsBalance()
}

// DefaultAccount is a balance collector's account label when none is set.
const DefaultAccount = "main"

// IsBalance reports whether s is a balance collector.
func (s *Collector) IsBalance() bool {
	for _, t := range s.DataTypes {
		if t == market.TypeBalance {
			return true
		}
	}
	return false
}

// AccountLabel returns Account, defaulting to DefaultAccount.
func (s *Collector) AccountLabel() string {
	if s.Account == "" {
		return DefaultAccount
	}
	return s.Account
}

// IsEnabled reports Enabled, defaulting to true.
func (s *Collector) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// RestartsAutomatically reports AutoRestart, defaulting to true.
func (s *Collector) RestartsAutomatically() bool { return s.AutoRestart == nil || *s.AutoRestart }

// CollectedTypes are the data types a collector can be configured with today.
var collectedTypes = map[market.DataType]bool{market.TypeTicker: true, market.TypeTrade: true, market.TypeCandle: true, market.TypeOrderBook: true}

// Validate reports every problem with s, joined, or nil. Each message says
// which field is wrong and what is expected.
func (s *Collector) Validate() error {
	var errs []error
	if !validName(s.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1 to 64 characters of a-z, 0-9, '-' and '_'", s.Name))
	}
	if !s.Exchange.Known() {
		errs = append(errs, fmt.Errorf("exchange %q: want one of %v", string(s.Exchange), market.Exchanges()))
	}
	if s.IsBalance() {
		return errors.Join(append(errs, s.validateBalance()...)...)
	}
	if s.Account != "" || s.Publish || s.ReconcileInterval != 0 {
		errs = append(errs, errors.New("account, publish, reconcile_interval: set, but data_types has no balance"))
	}
	if s.Credentials != "" {
		switch {
		case !s.UsesBookKeys():
			errs = append(errs, errors.New("credentials: set, but data_types has no balance (keys serve balance, and orderbook on Coinbase's authenticated level2 channel)"))
		case !validCredentialsName(s.Credentials):
			errs = append(errs, fmt.Errorf("credentials %q: want 1 to 64 letters, digits and '_' (it prefixes variables such as NAME_API_KEY)", s.Credentials))
		}
	}
	if len(s.Symbols) == 0 {
		errs = append(errs, errors.New("symbols: at least one is required"))
	}
	seen := map[market.Symbol]bool{}
	for _, sym := range s.Symbols {
		if err := sym.Check(); err != nil {
			errs = append(errs, fmt.Errorf("symbols: %w", err))
		}
		if seen[sym] {
			errs = append(errs, fmt.Errorf("symbols: %s is listed twice", sym))
		}
		seen[sym] = true
	}
	if len(s.DataTypes) == 0 {
		errs = append(errs, errors.New("data_types: at least one of ticker, trade, candle, orderbook is required"))
	}
	hasCandle := false
	for _, t := range s.DataTypes {
		if !collectedTypes[t] {
			errs = append(errs, fmt.Errorf("data_types: %q is not collected; want ticker, trade, candle or orderbook", string(t)))
		}
		if t == market.TypeCandle {
			hasCandle = true
		}
	}
	for _, tf := range s.Timeframes {
		if !tf.Known() {
			errs = append(errs, fmt.Errorf("timeframes: %q: want one of %v", string(tf), market.Timeframes()))
		}
	}
	if hasCandle && len(s.Timeframes) == 0 {
		errs = append(errs, errors.New("timeframes: data_types has candle, so at least one timeframe is required"))
	}
	if !hasCandle && len(s.Timeframes) > 0 {
		errs = append(errs, errors.New("timeframes: set, but data_types has no candle"))
	}
	for t, d := range s.MaxSilenceByType {
		if !collectedTypes[t] {
			errs = append(errs, fmt.Errorf("max_silence_by_type: %q is not a collected data type", string(t)))
		}
		if d < 0 {
			errs = append(errs, fmt.Errorf("max_silence_by_type: %s: negative duration", t))
		}
	}
	if s.HealthCheckInterval < 0 {
		errs = append(errs, errors.New("health_check_interval: negative duration"))
	}
	if s.MaxSilence < 0 {
		errs = append(errs, errors.New("max_silence_duration: negative duration"))
	}
	errs = append(errs, s.validateBook()...)
	return errors.Join(errs...)
}

// validateBook checks the order book keys.
func (s *Collector) validateBook() []error {
	var errs []error
	if s.BookDepth < 0 {
		errs = append(errs, fmt.Errorf("book_depth: %d: want a positive number of levels", s.BookDepth))
	} else if most := MaxBookDepth(s.Exchange); most > 0 && s.BookDepth > most {
		errs = append(errs, fmt.Errorf("book_depth: %d: %s's book channel gives at most %d levels per side", s.BookDepth, s.Exchange, most))
	}
	for _, k := range []struct {
		key string
		d   Duration
	}{{"book_interval", s.BookInterval}, {"book_publish_interval", s.BookPublishInterval}} {
		if k.d < 0 || (k.d > 0 && k.d < MinBookInterval) {
			errs = append(errs, fmt.Errorf("%s: %s: want 0 (the default) or at least %s", k.key, k.d, MinBookInterval))
		}
	}
	if !s.HasType(market.TypeOrderBook) && (s.BookDepth != 0 || s.BookInterval != 0 || s.BookPublishInterval != 0 || s.BookUpdates) {
		errs = append(errs, errors.New("book_depth, book_interval, book_publish_interval, book_updates: set, but data_types has no orderbook"))
	}
	return errs
}

// validateBalance checks a balance collector's own keys.
func (s *Collector) validateBalance() []error {
	var errs []error
	if len(s.DataTypes) != 1 {
		errs = append(errs, errors.New("data_types: balance is collected alone: make another collector for market data"))
	}
	if len(s.Symbols) > 0 {
		errs = append(errs, errors.New("symbols: a balance collector has none (it reads the whole account)"))
	}
	if len(s.Timeframes) > 0 {
		errs = append(errs, errors.New("timeframes: a balance collector has none"))
	}
	if s.Account != "" {
		if err := market.CheckAccount(s.Account); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Credentials == "" {
		errs = append(errs, errors.New("credentials: required for balance: a name NAME whose keys are in NAME_API_KEY, NAME_API_SECRET (and NAME_API_PASSPHRASE)"))
	} else if !validCredentialsName(s.Credentials) {
		errs = append(errs, fmt.Errorf("credentials %q: want 1 to 64 letters, digits and '_' (it prefixes variables such as NAME_API_KEY)", s.Credentials))
	}
	if s.ReconcileInterval < 0 {
		errs = append(errs, errors.New("reconcile_interval: negative duration"))
	}
	for t := range s.MaxSilenceByType {
		if t != market.TypeBalance {
			errs = append(errs, fmt.Errorf("max_silence_by_type: %q is not a collected data type", string(t)))
		}
	}
	return errs
}

func validCredentialsName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Streams expands s into its streams, sorted by their String form. A
// balance collector has one stream, its account's (Symbol holds the
// account label).
func (s *Collector) Streams() []market.Stream {
	if s.IsBalance() {
		return []market.Stream{{Exchange: s.Exchange, Type: market.TypeBalance, Symbol: market.Symbol(s.AccountLabel())}}
	}
	var out []market.Stream
	for _, sym := range s.Symbols {
		for _, t := range s.DataTypes {
			if t == market.TypeCandle {
				for _, tf := range s.Timeframes {
					out = append(out, market.Stream{Exchange: s.Exchange, Symbol: sym, Type: t, Timeframe: tf})
				}
				continue
			}
			out = append(out, market.Stream{Exchange: s.Exchange, Symbol: sym, Type: t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Duration is a time.Duration that reads, from YAML or JSON, either a Go
// duration string ("30s", "5m") or a bare number of seconds (30), and writes
// itself as a Go duration string.
type Duration time.Duration

// ParseDuration reads a Go duration ("5m") or a bare number of seconds ("300").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(secs, 0) && !math.IsNaN(secs) {
		return time.Duration(secs * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("duration %q: want a Go duration such as 30s or 5m, or a number of seconds", s)
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String returns d as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration or a bare number of seconds.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a Go duration or a bare number of seconds, and names
// the line of a bad value.
func (d *Duration) UnmarshalYAML(value *yaml.Node) error {
	if err := d.UnmarshalText([]byte(value.Value)); err != nil {
		return fmt.Errorf("line %d: %w", value.Line, err)
	}
	return nil
}

// UnmarshalJSON reads a JSON string (Go duration or seconds) or a JSON number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return d.UnmarshalText([]byte(s))
	}
	return d.UnmarshalText(b)
}

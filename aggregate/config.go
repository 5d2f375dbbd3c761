package aggregate

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"marketetl/market"
)

// EveryTrade, as Config.FormingEvery, emits a forming update on every trade.
const EveryTrade time.Duration = -1

// DefaultFormingEvery is Config.FormingEvery when it is zero.
const DefaultFormingEvery = time.Second

// DefaultClockSkew is Config.ClockSkew when it is zero.
const DefaultClockSkew = 5 * time.Second

// Config tunes a Builder. The zero value is ready to use.
type Config struct {
	// FormingEvery is the least exchange time between two forming updates
	// of the same timeframe. Zero means DefaultFormingEvery (1s); EveryTrade
	// (or any negative value) emits one per trade.
	FormingEvery time.Duration
	// ClockSkew is how far a trade's exchange time may be ahead of its
	// receipt time; a trade further ahead is skipped. Zero means
	// DefaultClockSkew (5s, as in package validate); negative is an error.
	ClockSkew time.Duration
	// ClockOffset, when set, returns the measured offset of the local
	// clock from the exchange's clock (negative when the local clock is
	// behind) and whether it is known, as validate.Config.ClockOffset
	// does (collector.ClockSkew.Offset). When the local clock is behind,
	// a trade may be that much further ahead of its receipt time, up to
	// MaxClockCorrection; while the offset is not known, up to
	// MaxClockCorrection more. Nil: ClockSkew alone. It is called once per
	// trade and must not block.
	ClockOffset func(market.Exchange) (time.Duration, bool)
}

// MaxClockCorrection caps the correction a measured clock offset adds to
// ClockSkew, as in package validate: a trade validation would refuse for
// its time is not folded into a candle either.
const MaxClockCorrection = 5 * time.Minute

// New checks its arguments and returns a Builder of the candles of the
// timeframes tfs (duplicates are ignored) for exchange and sym.
func New(exchange market.Exchange, sym market.Symbol, tfs []market.Timeframe, cfg Config) (*Builder, error) {
	if !exchange.Known() {
		return nil, fmt.Errorf("new candle builder: exchange %q is unknown: use one of %v", string(exchange), market.Exchanges())
	}
	if err := sym.Check(); err != nil {
		return nil, fmt.Errorf("new candle builder: %w", err)
	}
	if len(tfs) == 0 {
		return nil, fmt.Errorf("new candle builder for %s: no timeframe: give at least one of %v", sym, market.Timeframes())
	}
	if cfg.ClockSkew < 0 {
		return nil, fmt.Errorf("new candle builder for %s: ClockSkew %s is negative: use 0 for the default (%s) or a positive allowance", sym, cfg.ClockSkew, DefaultClockSkew)
	}
	switch {
	case cfg.FormingEvery == 0:
		cfg.FormingEvery = DefaultFormingEvery
	case cfg.FormingEvery < 0:
		cfg.FormingEvery = 0
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	b := &Builder{exchange: exchange, symbol: sym, every: cfg.FormingEvery, skew: cfg.ClockSkew, offset: cfg.ClockOffset}
	for _, tf := range tfs {
		if !tf.Known() {
			return nil, fmt.Errorf("new candle builder for %s: timeframe %q is unknown: use one of %v", sym, string(tf), market.Timeframes())
		}
		if !slices.ContainsFunc(b.frames, func(f frame) bool { return f.tf == tf }) {
			b.frames = append(b.frames, frame{tf: tf})
		}
	}
	slices.SortFunc(b.frames, func(x, y frame) int { return cmp.Compare(x.tf.Duration(), y.tf.Duration()) })
	return b, nil
}

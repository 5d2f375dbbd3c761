package validate

import (
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// The rules of each record type, in the order the package documentation
// lists them. Each returns the first rule broken, or nil.

func checkTrade(t *market.Trade) *Rejection {
	if t.TradeID == "" {
		return reject(EmptyTradeID, "trade_id", "no trade id")
	}
	if t.Price.Sign() <= 0 {
		return reject(NonPositivePrice, "price", "price %s is not > 0", t.Price)
	}
	if t.Size.Sign() <= 0 {
		return reject(NonPositiveSize, "size", "size %s is not > 0", t.Size)
	}
	if t.Side != market.Buy && t.Side != market.Sell {
		return reject(BadSide, "side", "side %q: want %q or %q", string(t.Side), market.Buy, market.Sell)
	}
	return nil
}

// checkCandle checks c; a closed candle's interval must have ended by
// limit (the local clock plus the clock-skew allowance).
func checkCandle(c *market.Candle, limit time.Time) *Rejection {
	if !c.Timeframe.Known() {
		return reject(UnknownTimeframe, "timeframe", "timeframe %q: want one of %v", string(c.Timeframe), market.Timeframes())
	}
	if !c.Timeframe.Aligned(c.Time) {
		return reject(MisalignedTimestamp, "ts", "%s is not the open time of a %s candle (%s is)", stamp(c.Time), c.Timeframe, stamp(c.Timeframe.Truncate(c.Time)))
	}
	if r := positivePrice(c.Open, "open"); r != nil {
		return r
	}
	if r := positivePrice(c.High, "high"); r != nil {
		return r
	}
	if r := positivePrice(c.Low, "low"); r != nil {
		return r
	}
	if r := positivePrice(c.Close, "close"); r != nil {
		return r
	}
	if c.Volume.Sign() < 0 {
		return reject(NegativeVolume, "volume", "volume %s is negative", c.Volume)
	}
	if c.QuoteVolume.Valid && c.QuoteVolume.Decimal.Sign() < 0 {
		return reject(NegativeVolume, "quote_volume", "quote volume %s is negative", c.QuoteVolume.Decimal)
	}
	if c.Trades < -1 {
		return reject(BadTradeCount, "trades", "trade count %d: want ≥ 0, or -1 for unknown", c.Trades)
	}
	if cmp(c.High, c.Low) < 0 {
		return reject(HighBelowLow, "high", "high %s is below low %s", c.High, c.Low)
	}
	if cmp(c.High, c.Open) < 0 || cmp(c.High, c.Close) < 0 {
		return reject(HighBelowOpenClose, "high", "high %s is below open %s or close %s", c.High, c.Open, c.Close)
	}
	if cmp(c.Low, c.Open) > 0 || cmp(c.Low, c.Close) > 0 {
		return reject(LowAboveOpenClose, "low", "low %s is above open %s or close %s", c.Low, c.Open, c.Close)
	}
	if end := c.Time.Add(c.Timeframe.Duration()); c.Closed && end.After(limit) {
		return reject(ClosedBeforeEnd, "closed", "%s candle of %s is marked closed but ends at %s, after %s", c.Timeframe, stamp(c.Time), stamp(end), stamp(limit))
	}
	return nil
}

func positivePrice(d decimal.Decimal, field string) *Rejection {
	if d.Sign() <= 0 {
		return reject(NonPositivePrice, field, "%s %s is not > 0", field, d)
	}
	return nil
}

// presentPositive checks a ticker price that the exchange may not send.
func presentPositive(d decimal.NullDecimal, field string) *Rejection {
	if d.Valid && d.Decimal.Sign() <= 0 {
		return reject(NonPositivePrice, field, "%s %s is not > 0", field, d.Decimal)
	}
	return nil
}

// presentNonNegative checks a ticker size or volume that the exchange may not send.
func presentNonNegative(d decimal.NullDecimal, reason Reason, field string) *Rejection {
	if d.Valid && d.Decimal.Sign() < 0 {
		return reject(reason, field, "%s %s is negative", field, d.Decimal)
	}
	return nil
}

func checkTicker(t *market.Ticker) *Rejection {
	if r := presentPositive(t.Last, "last"); r != nil {
		return r
	}
	if r := presentPositive(t.Bid, "bid"); r != nil {
		return r
	}
	if r := presentPositive(t.Ask, "ask"); r != nil {
		return r
	}
	if r := presentPositive(t.Open24h, "open_24h"); r != nil {
		return r
	}
	if r := presentPositive(t.High24h, "high_24h"); r != nil {
		return r
	}
	if r := presentPositive(t.Low24h, "low_24h"); r != nil {
		return r
	}
	if r := presentNonNegative(t.BidSize, NegativeSize, "bid_size"); r != nil {
		return r
	}
	if r := presentNonNegative(t.AskSize, NegativeSize, "ask_size"); r != nil {
		return r
	}
	if r := presentNonNegative(t.Volume24h, NegativeVolume, "volume_24h"); r != nil {
		return r
	}
	if r := presentNonNegative(t.QuoteVolume24h, NegativeVolume, "quote_volume_24h"); r != nil {
		return r
	}
	if t.Bid.Valid && t.Ask.Valid && cmp(t.Bid.Decimal, t.Ask.Decimal) > 0 {
		return reject(CrossedBook, "bid", "bid %s is above ask %s", t.Bid.Decimal, t.Ask.Decimal)
	}
	if t.High24h.Valid && t.Low24h.Valid && cmp(t.High24h.Decimal, t.Low24h.Decimal) < 0 {
		return reject(HighBelowLow, "high_24h", "24-hour high %s is below low %s", t.High24h.Decimal, t.Low24h.Decimal)
	}
	return nil
}

func checkBook(b *market.BookSnapshot) *Rejection {
	if r := checkSide(b.Bids, "bids", -1); r != nil {
		return r
	}
	if r := checkSide(b.Asks, "asks", 1); r != nil {
		return r
	}
	if len(b.Bids) > 0 && len(b.Asks) > 0 {
		switch cmp(b.Bids[0].Price, b.Asks[0].Price) {
		case 1:
			return reject(CrossedBook, "bids.price", "best bid %s is above best ask %s", b.Bids[0].Price, b.Asks[0].Price)
		case 0:
			return reject(LockedBook, "bids.price", "best bid %s equals best ask %s", b.Bids[0].Price, b.Asks[0].Price)
		}
	}
	return nil
}

// checkBookUpdate checks one level change: a side, a positive price and a
// new size >= 0 (0 removes the level).
func checkBookUpdate(u *market.BookUpdate) *Rejection {
	if !u.Side.Valid() {
		return reject(BadSide, "side", "book side %q is neither bid nor ask", string(u.Side))
	}
	if u.Price.Sign() <= 0 {
		return reject(NonPositivePrice, "price", "price %s is not > 0", u.Price)
	}
	if u.Size.Sign() < 0 {
		return reject(NegativeSize, "size", "size %s is negative", u.Size)
	}
	return nil
}

// checkSide checks one side of a book; order is -1 when prices must
// strictly descend (bids) and 1 when they must strictly ascend (asks).
func checkSide(levels []market.Level, side string, order int) *Rejection {
	for i := range levels {
		l := &levels[i]
		if l.Price.Sign() <= 0 {
			return reject(NonPositivePrice, side+".price", "%s level %d: price %s is not > 0", side, i, l.Price)
		}
		if l.Size.Sign() <= 0 {
			return reject(NonPositiveSize, side+".size", "%s level %d: size %s is not > 0", side, i, l.Size)
		}
		if i == 0 {
			continue
		}
		if c := cmp(l.Price, levels[i-1].Price); c == 0 {
			return reject(DuplicateLevel, side+".price", "%s level %d: price %s repeats level %d", side, i, l.Price, i-1)
		} else if c != order {
			return reject(UnsortedBook, side+".price", "%s level %d: price %s after %s breaks the %s order", side, i, l.Price, levels[i-1].Price, orderName(order))
		}
	}
	return nil
}

func orderName(order int) string {
	if order < 0 {
		return "strictly descending"
	}
	return "strictly ascending"
}

func checkBalance(b *market.Balance) *Rejection {
	if b.Account == "" {
		return reject(EmptyAccount, "account", "no account name")
	}
	if b.Free.Sign() < 0 {
		return reject(NegativeSize, "free", "free %s is negative", b.Free)
	}
	if b.Locked.Sign() < 0 {
		return reject(NegativeSize, "locked", "locked %s is negative", b.Locked)
	}
	return nil
}

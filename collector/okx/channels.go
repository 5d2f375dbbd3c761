package okx

import (
	"fmt"

	"marketetl/market"
)

// Channel names (order-book-trading-market-data-ws-tickers-channel,
// -trades-channel, -candlesticks-channel).
const (
	channelTickers = "tickers"
	channelTrades  = "trades"
	candlePrefix   = "candle"
)

// Connection keys of the plan.
const (
	keyPublic   = "public"
	keyBusiness = "business"
)

// barOf returns OKX's bar name for tf; the candle channel is "candle" and
// the bar. Bars of 6 hours and longer without the "utc" suffix open at
// UTC+8 (Hong Kong); marketetl's candles open at UTC midnight (and on
// Monday for weeks), so those use the "utc" variants. Every marketetl
// timeframe has a bar.
func barOf(tf market.Timeframe) (string, error) {
	switch tf {
	case market.TF1m, market.TF3m, market.TF5m, market.TF15m, market.TF30m:
		return string(tf), nil
	case market.TF1h:
		return "1H", nil
	case market.TF2h:
		return "2H", nil
	case market.TF4h:
		return "4H", nil
	case market.TF6h:
		return "6Hutc", nil
	case market.TF12h:
		return "12Hutc", nil
	case market.TF1d:
		return "1Dutc", nil
	case market.TF1w:
		return "1Wutc", nil
	}
	return "", fmt.Errorf("timeframe %q: want one of %v", string(tf), market.Timeframes())
}

// channelOf returns the channel that carries stream s and the key of the
// connection it belongs on. It refuses streams this adapter does not serve.
func channelOf(s market.Stream) (channel, key string, err error) {
	if s.Exchange != market.OKX {
		return "", "", fmt.Errorf("stream %s: not an OKX stream", s)
	}
	if err := s.Check(); err != nil {
		return "", "", err
	}
	switch s.Type {
	case market.TypeTicker:
		return channelTickers, keyPublic, nil
	case market.TypeTrade:
		return channelTrades, keyPublic, nil
	case market.TypeOrderBook:
		return channelBooks, keyPublic, nil
	case market.TypeCandle:
		bar, err := barOf(s.Timeframe)
		if err != nil {
			return "", "", fmt.Errorf("stream %s: %w", s, err)
		}
		return candlePrefix + bar, keyBusiness, nil
	}
	return "", "", fmt.Errorf("stream %s: the OKX adapter serves tickers, trades, order books and candles, not %s", s, s.Type)
}

// kindOf maps a channel name found in a frame to its data type and, for
// candles, timeframe. Matching a []byte against string cases does not
// allocate.
func kindOf(channel []byte) (market.DataType, market.Timeframe, bool) {
	switch string(channel) {
	case channelTickers:
		return market.TypeTicker, "", true
	case channelTrades:
		return market.TypeTrade, "", true
	case channelBooks:
		return market.TypeOrderBook, "", true
	case "candle1m":
		return market.TypeCandle, market.TF1m, true
	case "candle3m":
		return market.TypeCandle, market.TF3m, true
	case "candle5m":
		return market.TypeCandle, market.TF5m, true
	case "candle15m":
		return market.TypeCandle, market.TF15m, true
	case "candle30m":
		return market.TypeCandle, market.TF30m, true
	case "candle1H":
		return market.TypeCandle, market.TF1h, true
	case "candle2H":
		return market.TypeCandle, market.TF2h, true
	case "candle4H":
		return market.TypeCandle, market.TF4h, true
	case "candle6Hutc":
		return market.TypeCandle, market.TF6h, true
	case "candle12Hutc":
		return market.TypeCandle, market.TF12h, true
	case "candle1Dutc":
		return market.TypeCandle, market.TF1d, true
	case "candle1Wutc":
		return market.TypeCandle, market.TF1w, true
	}
	return "", "", false
}

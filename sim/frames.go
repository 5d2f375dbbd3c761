package sim

import (
	"fmt"
	"strconv"
	"time"

	"marketetl/market"
)

// Frames for records made elsewhere: the benchmark pre-generates its
// workload and has it encoded here, by the same encoders the simulated
// exchange pushes with, so that the bytes on the wire are the exchange's
// real format.

// TradeFrame returns the push frame that carries tr on ex: a Binance
// combined-stream trade event, an OKX trades push or a Coinbase match. seq
// is OKX's seqId or Coinbase's sequence number (ignored by Binance).
// tr.TradeID must be a decimal integer.
func TradeFrame(ex market.Exchange, tr market.Trade, seq int64) ([]byte, error) {
	id, err := strconv.ParseInt(tr.TradeID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("trade frame: trade id %q: %w", tr.TradeID, err)
	}
	t := &trade{id: id, time: tr.Time, price: tr.Price, size: tr.Size, side: tr.Side, seq: seq}
	native := nativeSymbol(ex, tr.Symbol)
	switch ex {
	case market.Binance:
		payload := encode(binanceTrade{Event: "trade", EventTime: ms(t.time), Symbol: native, TradeID: t.id,
			Price: dec(t.price), Qty: dec(t.size), TradeTime: ms(t.time), Maker: t.side == market.Sell, Best: true})
		return encode(binanceWrapped{Stream: lower(native) + "@trade", Data: payload}), nil
	case market.OKX:
		in := &instrument{native: native}
		return encode(okxPush{Arg: okxArg{Channel: "trades", InstID: native}, Data: []okxTrade{okxTradeOf(in, t, seq)}}), nil
	case market.Coinbase:
		in := &instrument{native: native}
		return encode(coinbaseMatchOf(1, in, t, "match")), nil
	case market.Kraken:
		in := &instrument{native: native}
		return encode(krakenPush{Channel: "trade", Type: "update", Data: []krakenTrade{krakenTradeOf(in, t)}}), nil
	}
	return nil, fmt.Errorf("trade frame: unknown exchange %q", ex)
}

// CandleFrame returns the push frame that carries c on ex: a Binance
// combined-stream kline event (sent at eventTime) or an OKX candle push on
// the business connection. Coinbase streams no candles, and a Kraken
// candle closes only when the next one arrives. A Binance kline
// needs c.Trades ≥ 0 and c.QuoteVolume; an OKX candle c.QuoteVolume.
func CandleFrame(ex market.Exchange, c market.Candle, eventTime time.Time) ([]byte, error) {
	if !c.QuoteVolume.Valid {
		return nil, fmt.Errorf("candle frame: %s candles carry a quote volume", ex)
	}
	cd := &candle{open: c.Time, o: c.Open, h: c.High, l: c.Low, c: c.Close, vol: c.Volume, quote: c.QuoteVolume.Decimal,
		buyVol: zeroLike(c.Volume), buyQte: zeroLike(c.QuoteVolume.Decimal), n: max(c.Trades, 0)}
	native := nativeSymbol(ex, c.Symbol)
	switch ex {
	case market.Binance:
		f := utcFrame(c.Timeframe, string(c.Timeframe))
		stream := lower(native) + "@kline_" + f.name
		payload := encode(binanceKline{Event: "kline", EventTime: ms(eventTime), Symbol: native, K: binanceKlineBody{
			Open: ms(cd.open), Close: ms(f.closeTime(cd.open)), Symbol: native, Interval: f.name,
			First: cd.first, Last: cd.last, O: dec(cd.o), C: dec(cd.c), H: dec(cd.h), L: dec(cd.l),
			Volume: dec(cd.vol), Trades: cd.n, Closed: c.Closed, Quote: dec(cd.quote),
			BuyVolume: dec(cd.buyVol), BuyQuote: dec(cd.buyQte), Ignore: "0",
		}})
		return encode(binanceWrapped{Stream: stream, Data: payload}), nil
	case market.OKX:
		bar, err := okxBar(c.Timeframe)
		if err != nil {
			return nil, err
		}
		return encode(okxPush{Arg: okxArg{Channel: "candle" + bar, InstID: native}, Data: [][9]string{okxCandleRow(cd, c.Closed)}}), nil
	}
	return nil, fmt.Errorf("candle frame: %s streams no candles", ex)
}

// okxBar returns OKX's UTC bar name of tf.
func okxBar(tf market.Timeframe) (string, error) {
	if bar, ok := okxBars[tf]; ok {
		return bar, nil
	}
	return "", fmt.Errorf("candle frame: okx has no bar for timeframe %q", tf)
}

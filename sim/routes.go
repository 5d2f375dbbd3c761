package sim

import "net/http"

// routes serves every exchange below its prefix, with the exchange's own
// paths below it.
func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()

	mux.HandleFunc("GET /okx/ws/v5/public", s.okxWS(false))
	mux.HandleFunc("GET /okx/ws/v5/business", s.okxWS(true))
	mux.HandleFunc("GET /okx/api/v5/market/candles", s.okxCandles(false))
	mux.HandleFunc("GET /okx/api/v5/market/history-candles", s.okxCandles(true))
	mux.HandleFunc("GET /okx/api/v5/market/trades", s.okxTrades(false))
	mux.HandleFunc("GET /okx/api/v5/market/history-trades", s.okxTrades(true))
	mux.HandleFunc("GET /okx/ws/v5/private", s.okxPrivateWS)
	mux.HandleFunc("GET /okx/api/v5/account/balance", s.okxBalance)
	mux.HandleFunc("GET /okx/api/v5/account/config", s.okxAccountConfig)
	mux.HandleFunc("GET /okx/api/v5/public/time", s.okxTime)

	mux.HandleFunc("GET /binance/ws", s.binanceWS(false))
	mux.HandleFunc("GET /binance/ws/{streams...}", s.binanceWS(false))
	mux.HandleFunc("GET /binance/stream", s.binanceWS(true))
	mux.HandleFunc("GET /binance/api/v3/klines", s.binanceKlines)
	mux.HandleFunc("GET /binance/api/v3/trades", s.binanceTrades(false))
	mux.HandleFunc("GET /binance/api/v3/historicalTrades", s.binanceTrades(true))
	mux.HandleFunc("GET /binance/api/v3/aggTrades", s.binanceAggTrades)
	mux.HandleFunc("GET /binance/ws-api/v3", s.binanceAPIWS)
	mux.HandleFunc("GET /binance/api/v3/account", s.binanceAccountREST)
	mux.HandleFunc("GET /binance/api/v3/time", s.binanceTime)
	mux.HandleFunc("GET /binance/api/v3/depth", s.binanceDepthREST)

	mux.HandleFunc("GET /coinbase/{$}", s.coinbaseWS)
	mux.HandleFunc("GET /coinbase/products/{id}/candles", s.coinbaseCandles)
	mux.HandleFunc("GET /coinbase/products/{id}/trades", s.coinbaseTrades)
	mux.HandleFunc("GET /coinbase/accounts", s.coinbaseAccounts)
	mux.HandleFunc("GET /coinbase/time", s.coinbaseTime)
	mux.HandleFunc("GET /coinbase/products/{id}/book", s.coinbaseBookREST)
	mux.HandleFunc("GET /kraken/v2", s.krakenWS)
	mux.HandleFunc("GET /kraken/0/public/OHLC", s.krakenOHLC)
	mux.HandleFunc("GET /kraken/0/public/Trades", s.krakenTrades)
	return s.restGate(mux)
}

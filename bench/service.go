package bench

import (
	"context"
	"time"

	"marketetl/market"
	"marketetl/store"
)

// Endpoints are the exchange URLs a service under test dials: the frame
// server's, for one phase. The fields are those of the simulated
// exchange's endpoints.
type Endpoints struct {
	OKXPublicWS, OKXBusinessWS, OKXREST string
	BinanceWS, BinanceREST              string
	CoinbaseWS, CoinbaseREST            string
	KrakenWS, KrakenREST                string
}

// endpointsAt returns the endpoints of phase on the frame server at addr.
// The adapters append their own paths (Binance /stream?streams=...), which
// the server ignores; their REST calls are answered 404.
func endpointsAt(addr, phase string) Endpoints {
	ws := "ws://" + addr + "/" + phase + "/"
	rest := "http://" + addr + "/" + phase + "/rest"
	return Endpoints{
		OKXPublicWS: ws + chanOKXPublic, OKXBusinessWS: ws + chanOKXBusiness, OKXREST: rest,
		BinanceWS: ws + chanBinance, BinanceREST: rest,
		CoinbaseWS: ws + chanCoinbase, CoinbaseREST: rest,
		KrakenWS: ws + chanKraken, KrakenREST: rest,
	}
}

// ServiceSpec is what a BuildFunc builds: one collector of Exchange for
// Streams against URLs, with the store writer, the Redis publisher and the
// validating pipeline in front of them, wired as `etl run` wires them, and
// the two measurement hooks passed to store.Config.OnFlush and
// pubsub.Config.OnPublishReceived.
type ServiceSpec struct {
	// Name names the collector.
	Name        string
	DatabaseURL string
	Exchange    market.Exchange
	Symbols     []market.Symbol
	DataTypes   []market.DataType
	Timeframes  []market.Timeframe
	URLs        Endpoints
	// Collectors, when set, are the service's collectors, in place of the
	// one that Name, Exchange, Symbols, DataTypes and Timeframes describe.
	Collectors []CollectorSpec
	OnFlush    func(store.FlushResult)
	// OnPublishReceived receives the receipt times of each published batch.
	OnPublishReceived func(received []time.Time)
}

// CollectorSpec is one collector of a service with several.
type CollectorSpec struct {
	Name       string
	Exchange   market.Exchange
	Symbols    []market.Symbol
	DataTypes  []market.DataType
	Timeframes []market.Timeframe
}

// Service is the pipeline under test.
type Service interface {
	// Run runs the collector and the data path until ctx ends, then stops
	// the collector, drains and flushes the store and the publisher, and
	// returns once everything it started has stopped.
	Run(ctx context.Context) error
	// Status returns the service's counters without blocking it.
	Status() ServiceStatus
}

// ServiceStatus are the counters the benchmark reads from the service.
type ServiceStatus struct {
	// Frames counts WebSocket frames read; Reconnects the collector's
	// redials; DecodeRejects frames or records the adapter refused.
	Frames, Reconnects, DecodeRejects uint64
	// Rejected counts records refused by validation.
	Rejected uint64
	// Published and Dropped are the Redis publisher's counters.
	Published, Dropped uint64
	// Spooled and Replayed are the spool's counters (0 without a spool).
	Spooled, Replayed uint64
}

// BuildFunc builds a Service for spec; cmd/etl provides it.
type BuildFunc func(ctx context.Context, spec ServiceSpec) (Service, error)

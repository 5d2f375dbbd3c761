package store

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// TestAdmitChecksEveryValue: Admit refuses a record when any one of its
// times or decimals cannot be stored, naming that field, and accepts the
// record otherwise (the quick storable predicates must cover every field
// the detailed checks do).
func TestAdmitChecksEveryValue(t *testing.T) {
	w := &Writer{}
	tooFine := decimal.New(1, -(maxNumericScale + 1))
	tooLarge := decimal.New(1, maxNumericDigits)
	badTime := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	full := func() *market.Ticker {
		return &market.Ticker{Meta: meta("BTC-USDT", t0), Last: nullDec("1"), Bid: nullDec("1"), Ask: nullDec("1"),
			BidSize: nullDec("1"), AskSize: nullDec("1"), Open24h: nullDec("1"), High24h: nullDec("1"),
			Low24h: nullDec("1"), Volume24h: nullDec("1"), QuoteVolume24h: nullDec("1")}
	}
	level := func() []market.Level {
		return []market.Level{{Price: dec("1"), Size: dec("2")}, {Price: dec("3"), Size: dec("4")}}
	}
	book := func() *market.BookSnapshot {
		return &market.BookSnapshot{Meta: meta("BTC-USDT", t0), Bids: level(), Asks: level()}
	}
	update := func() *market.BookUpdate {
		return &market.BookUpdate{Meta: meta("BTC-USDT", t0), BookChange: market.BookChange{Side: market.Bid, Price: dec("1"), Size: dec("2")}}
	}
	balance := func() *market.Balance {
		return &market.Balance{Meta: meta("spot", t0), Account: "spot", Free: dec("1"), Locked: dec("2")}
	}
	cndl := func() *market.Candle { return benchCandle(1, 1) }
	tests := []struct {
		name  string
		field string // "" for a storable record
		rec   market.Record
	}{
		{"trade", "", trade(1, "1", "2")},
		{"trade time", "time", func() market.Record { r := trade(1, "1", "2"); r.Time = badTime; return r }()},
		{"trade received", "received", func() market.Record { r := trade(1, "1", "2"); r.Received = badTime; return r }()},
		{"trade price", "price", func() market.Record { r := trade(1, "1", "2"); r.Price = tooFine; return r }()},
		{"trade size", "size", func() market.Record { r := trade(1, "1", "2"); r.Size = tooLarge; return r }()},
		{"ticker", "", full()},
		{"ticker absent values", "", &market.Ticker{Meta: meta("BTC-USDT", t0)}},
		{"ticker time", "time", func() market.Record { r := full(); r.Time = badTime; return r }()},
		{"ticker last", "last", func() market.Record { r := full(); r.Last.Decimal = tooFine; return r }()},
		{"ticker bid", "bid", func() market.Record { r := full(); r.Bid.Decimal = tooFine; return r }()},
		{"ticker ask", "ask", func() market.Record { r := full(); r.Ask.Decimal = tooFine; return r }()},
		{"ticker bid_size", "bid_size", func() market.Record { r := full(); r.BidSize.Decimal = tooFine; return r }()},
		{"ticker ask_size", "ask_size", func() market.Record { r := full(); r.AskSize.Decimal = tooFine; return r }()},
		{"ticker open_24h", "open_24h", func() market.Record { r := full(); r.Open24h.Decimal = tooFine; return r }()},
		{"ticker high_24h", "high_24h", func() market.Record { r := full(); r.High24h.Decimal = tooFine; return r }()},
		{"ticker low_24h", "low_24h", func() market.Record { r := full(); r.Low24h.Decimal = tooFine; return r }()},
		{"ticker volume_24h", "volume_24h", func() market.Record { r := full(); r.Volume24h.Decimal = tooFine; return r }()},
		{"ticker quote_volume_24h", "quote_volume_24h", func() market.Record { r := full(); r.QuoteVolume24h.Decimal = tooLarge; return r }()},
		{"candle", "", cndl()},
		{"candle received", "received", func() market.Record { r := cndl(); r.Received = badTime; return r }()},
		{"candle open", "open", func() market.Record { r := cndl(); r.Open = tooFine; return r }()},
		{"candle high", "high", func() market.Record { r := cndl(); r.High = tooFine; return r }()},
		{"candle low", "low", func() market.Record { r := cndl(); r.Low = tooFine; return r }()},
		{"candle close", "close", func() market.Record { r := cndl(); r.Close = tooFine; return r }()},
		{"candle volume", "volume", func() market.Record { r := cndl(); r.Volume = tooLarge; return r }()},
		{"candle quote_volume", "quote_volume", func() market.Record { r := cndl(); r.QuoteVolume.Decimal = tooFine; return r }()},
		{"book", "", book()},
		{"book time", "time", func() market.Record { r := book(); r.Time = badTime; return r }()},
		{"book bid price", "level price", func() market.Record { r := book(); r.Bids[1].Price = tooFine; return r }()},
		{"book ask size", "level size", func() market.Record { r := book(); r.Asks[1].Size = tooLarge; return r }()},
		{"book update", "", update()},
		{"book update received", "received", func() market.Record { r := update(); r.Received = badTime; return r }()},
		{"book update price", "price", func() market.Record { r := update(); r.Price = tooFine; return r }()},
		{"book update size", "size", func() market.Record { r := update(); r.Size = tooLarge; return r }()},
		{"balance", "", balance()},
		{"balance time", "time", func() market.Record { r := balance(); r.Time = badTime; return r }()},
		{"balance free", "free", func() market.Record { r := balance(); r.Free = tooFine; return r }()},
		{"balance locked", "locked", func() market.Record { r := balance(); r.Locked = tooLarge; return r }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := w.Admit(tt.rec)
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Admit = %v, want nil", err)
			case tt.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.field+": ")):
				t.Fatalf("Admit = %v, want an error about %s", err, tt.field)
			}
		})
	}
}

// TestStorableTimeMatchesYear: checkTime's quick comparison of seconds
// agrees with the year of t in its own location, at the edges of years 1
// and 9999, in UTC, the local zone and zones far east and west.
func TestStorableTimeMatchesYear(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("east", 14*3600), time.FixedZone("west", -12*3600),
		time.FixedZone("odd", 5*3600+45*60), time.FixedZone("absurd", 1<<40)}
	var times []time.Time
	for _, y := range []int{-1, 0, 1, 2, 2026, 9998, 9999, 10000, 10001} {
		for _, z := range zones {
			start := time.Date(y, 1, 1, 0, 0, 0, 0, z)
			for _, d := range []time.Duration{-24 * time.Hour, -time.Hour, -time.Second, -time.Nanosecond, 0,
				time.Nanosecond, time.Second, time.Hour, 24 * time.Hour} {
				at := start.Add(d)
				times = append(times, at, at.UTC(), at.In(time.FixedZone("east", 14*3600)), at.In(time.FixedZone("west", -12*3600)))
			}
		}
	}
	times = append(times, time.Time{}, time.Unix(1<<62, 0), time.Unix(-1<<62, 0), time.Unix(1<<62, 0).In(time.FixedZone("east", 14*3600)))
	for _, at := range times {
		y := at.Year()
		if got, want := storableTime(at), y >= 1 && y <= 9999; got != want {
			t.Errorf("storableTime(%s, year %d) = %v, want %v", at, y, got, want)
		}
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"marketetl/market"
)

// Last is the last stored record of a stream: where gap detection resumes
// after a restart.
type Last struct {
	// Time is the record's exchange time: the latest trade's execution
	// time, the latest closed candle's open time.
	Time time.Time
	// TradeID is, for a trade stream, the greatest decimal trade id among
	// the trades of the latest stored time; 0 when none is a decimal
	// integer (or for candles).
	TradeID int64
}

// lastTradesQuery reads the trades of a symbol's latest stored time, by the
// primary key (exchange, symbol, ts, trade_id): a backward index scan for
// max(ts), then an index range. The limit only guards against a pathological
// number of trades sharing one timestamp.
const lastTradesQuery = `SELECT trade_id, ts FROM trades
WHERE exchange = $1 AND symbol = $2
  AND ts = (SELECT max(ts) FROM trades WHERE exchange = $1 AND symbol = $2)
LIMIT 10000`

// lastCandleQuery reads the latest closed candle's open time by the primary
// key (exchange, symbol, timeframe, ts), walking back past forming ones.
const lastCandleQuery = `SELECT ts FROM candles
WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND closed
ORDER BY ts DESC LIMIT 1`

// LastStored returns the last stored record of each trade and candle stream
// of streams that has one; streams of other types, and streams with nothing
// stored, are left out. It runs one indexed query per stream.
func LastStored(ctx context.Context, pool *pgxpool.Pool, streams []market.Stream) (map[market.Stream]Last, error) {
	out := make(map[market.Stream]Last, len(streams))
	for _, s := range streams {
		var (
			l     Last
			found bool
			err   error
		)
		switch s.Type {
		case market.TypeTrade:
			l, found, err = lastTrade(ctx, pool, s)
		case market.TypeCandle:
			l, found, err = lastCandle(ctx, pool, s)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("find the last stored record of %s: %w", s, err)
		}
		if found {
			out[s] = l
		}
	}
	return out, nil
}

func lastTrade(ctx context.Context, pool *pgxpool.Pool, s market.Stream) (Last, bool, error) {
	rows, err := pool.Query(ctx, lastTradesQuery, string(s.Exchange), string(s.Symbol))
	if err != nil {
		return Last{}, false, err
	}
	defer rows.Close()
	var l Last
	found := false
	for rows.Next() {
		var id string
		var ts time.Time
		if err := rows.Scan(&id, &ts); err != nil {
			return Last{}, false, err
		}
		found = true
		l.Time = ts.UTC()
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > l.TradeID {
			l.TradeID = n
		}
	}
	if err := rows.Err(); err != nil {
		return Last{}, false, err
	}
	return l, found, nil
}

func lastCandle(ctx context.Context, pool *pgxpool.Pool, s market.Stream) (Last, bool, error) {
	var ts time.Time
	err := pool.QueryRow(ctx, lastCandleQuery, string(s.Exchange), string(s.Symbol), string(s.Timeframe)).Scan(&ts)
	if errors.Is(err, pgx.ErrNoRows) {
		return Last{}, false, nil
	}
	if err != nil {
		return Last{}, false, err
	}
	return Last{Time: ts.UTC()}, true, nil
}

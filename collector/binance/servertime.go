package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"marketetl/collector"
)

var _ collector.ServerClock = (*Adapter)(nil)

// ServerTime implements collector.ServerClock (GET /api/v3/time): the collector
// reads it at connect to know the host clock's offset before the trades
// tell it.
func (a *Adapter) ServerTime(ctx context.Context) (time.Time, error) {
	resp, body, err := a.rest.Get(ctx, "/api/v3/time")
	if err != nil {
		return time.Time{}, fmt.Errorf("binance server time: %w", err)
	}
	var r struct {
		ServerTime int64 `json:"serverTime"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil || r.ServerTime <= 0 {
		return time.Time{}, fmt.Errorf("binance server time: HTTP %s: unexpected answer", resp.Status)
	}
	return time.UnixMilli(r.ServerTime).UTC(), nil
}

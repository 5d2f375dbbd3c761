package okx

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
)

var _ collector.ServerClock = (*Adapter)(nil)

// ServerTime implements collector.ServerClock (GET /api/v5/public/time):
// the collector reads it at connect to know the host clock's offset before
// the trades tell it.
func (a *Adapter) ServerTime(ctx context.Context) (time.Time, error) { return serverTime(ctx, a.rest) }

// serverTime reads OKX's clock: GET /api/v5/public/time
// (rest-api-get-system-time), {"code":"0","data":[{"ts":"1597026383085"}]}.
func serverTime(ctx context.Context, rest *wire.REST) (time.Time, error) {
	resp, body, err := rest.Get(ctx, "/api/v5/public/time")
	if err != nil {
		return time.Time{}, fmt.Errorf("okx server time: %w", err)
	}
	var r struct {
		Data []struct {
			TS string `json:"ts"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil || len(r.Data) != 1 {
		return time.Time{}, fmt.Errorf("okx server time: HTTP %s: unexpected answer", resp.Status)
	}
	ms, err := strconv.ParseInt(r.Data[0].TS, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("okx server time: ts: %w", err)
	}
	return time.UnixMilli(ms).UTC(), nil
}

package coinbase

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"marketetl/collector"
)

var _ collector.ServerClock = (*Adapter)(nil)

// ServerTime implements collector.ServerClock (GET /time): the collector
// reads it at connect to know the host clock's offset before the trades
// tell it.
func (a *Adapter) ServerTime(ctx context.Context) (time.Time, error) {
	resp, body, err := a.rest.Get(ctx, "/time")
	if err != nil {
		return time.Time{}, fmt.Errorf("coinbase server time: %w", err)
	}
	var r struct {
		ISO string `json:"iso"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil {
		return time.Time{}, fmt.Errorf("coinbase server time: HTTP %s: unexpected answer", resp.Status)
	}
	t, err := time.Parse(time.RFC3339Nano, r.ISO)
	if err != nil {
		return time.Time{}, fmt.Errorf("coinbase server time: iso: %w", err)
	}
	return t.UTC(), nil
}

package wire

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// get makes one GET request for JSON and reads at most maxBody bytes of
// the answer, whatever its status (see REST.Get).
func getJSON(ctx context.Context, client *http.Client, rawURL, userAgent string, maxBody int64, header http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(body)) > maxBody {
		return nil, nil, fmt.Errorf("response larger than %d bytes", maxBody)
	}
	return resp, body, nil
}

// RetryAfter reads a Retry-After header (RFC 9110 10.2.3): delay-seconds,
// or an HTTP date taken against now. ok is false when the header is
// missing or unreadable; the delay may be 0 or negative (a date in the
// past), and each caller applies its own default and bounds.
func RetryAfter(h string, now time.Time) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 || secs > int64(math.MaxInt64/time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(h); err == nil {
		return at.Sub(now), true
	}
	return 0, false
}

package coinbase

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"marketetl/collector"
	"marketetl/collector/wire"
)

// APIError is a REST response other than 200, with Coinbase's message when
// the body carries one ({"message":"NotFound"}).
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is Coinbase's message, or the start of a body that is not
	// Coinbase's error JSON.
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// Waits when a rate-limit response has no usable Retry-After header.
const (
	// defaultRateLimitWait: Coinbase's public REST limits are counted per
	// second.
	defaultRateLimitWait = time.Second
	// minRetryAfter keeps a Retry-After of 0 from turning into a busy loop.
	minRetryAfter = 100 * time.Millisecond
	// maxRetryAfter bounds a Retry-After that makes no sense.
	maxRetryAfter = 24 * time.Hour
)

// statusError classifies a response other than 200:
//   - 429 (rate limit) and 418: a *collector.RetryAfterError honouring
//     Retry-After (seconds or an HTTP date), else waiting a second;
//   - 403 (a web firewall in front of the API), 408 and 5xx: transient,
//     the request itself is fine;
//   - other 4xx: the request cannot succeed as it stands (404
//     {"message":"NotFound"} for an unknown product, 400 {"message":
//     "Unsupported granularity"} or "granularity too small for the
//     requested time range", 401 for credentials), so it wraps
//     collector.ErrPermanent;
//   - anything else is transient.
func (a *Adapter) statusError(resp *http.Response, body []byte) error {
	e := &APIError{Status: resp.StatusCode}
	var b struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal(body, &b) == nil && b.Message != nil {
		e.Message = *b.Message
	} else {
		e.Message = snippet(body)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests || s == http.StatusTeapot:
		return &collector.RetryAfterError{After: a.retryAfter(resp.Header.Get("Retry-After")), Err: e}
	case s == http.StatusForbidden || s == http.StatusRequestTimeout:
		return e
	case s >= 400 && s < 500:
		return fmt.Errorf("%w: %w", e, collector.ErrPermanent)
	}
	return e
}

// retryAfter reads a Retry-After header: seconds or an HTTP date. It
// returns defaultRateLimitWait when the header is missing or unreadable.
func (a *Adapter) retryAfter(h string) time.Duration {
	d := defaultRateLimitWait
	if v, ok := wire.RetryAfter(h, a.rest.Now()); ok {
		d = min(v, maxRetryAfter)
	}
	return max(d, minRetryAfter)
}

// snippet returns the start of a body for an error message.
func snippet(body []byte) string {
	const n = 200
	s := strings.ToValidUTF8(strings.TrimSpace(string(body)), "\uFFFD")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

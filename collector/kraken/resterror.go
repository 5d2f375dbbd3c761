package kraken

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"marketetl/collector"
	"marketetl/collector/wire"
)

// APIError is a REST answer that failed: Kraken's error strings
// ({"error":["EQuery:Unknown asset pair"],"result":{}}, sent with HTTP
// 200) or an HTTP status other than 200.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Errors are Kraken's error strings, or the start of a body that is
	// not Kraken's JSON.
	Errors []string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, strings.Join(e.Errors, "; "))
}

// Waits when a rate-limit answer says nothing usable.
const (
	// defaultRateLimitWait: Kraken's guidance is about one public request
	// a second per IP and pair (support 206548367).
	defaultRateLimitWait = 2 * time.Second
	minRetryAfter        = 100 * time.Millisecond
	maxRetryAfter        = 24 * time.Hour
)

// apiError classifies Kraken's error strings (spot-rest-ratelimits,
// REST API reference "errors"):
//   - "EAPI:Rate limit exceeded", "EService: Throttled: <unix time>":
//     a *collector.RetryAfterError (until the time given, else Retry-After
//     or two seconds);
//   - "EQuery:Unknown asset pair", "EGeneral:Invalid arguments…",
//     "EQuery:…": the request cannot succeed, wrapping
//     collector.ErrPermanent;
//   - "EService:Unavailable", "EService:Busy", "EGeneral:Internal error"
//     and anything else: transient.
func (a *Adapter) apiError(resp *http.Response, errs []string) error {
	e := &APIError{Status: resp.StatusCode, Errors: errs}
	for _, s := range errs {
		switch {
		case strings.HasPrefix(s, "EAPI:Rate limit exceeded"):
			return &collector.RetryAfterError{After: a.retryAfter(resp.Header.Get("Retry-After")), Err: e}
		case strings.HasPrefix(s, "EService: Throttled") || strings.HasPrefix(s, "EService:Throttled"):
			return &collector.RetryAfterError{After: a.throttledUntil(s, resp), Err: e}
		case strings.HasPrefix(s, "EQuery:"), strings.HasPrefix(s, "EGeneral:Invalid arguments"), strings.HasPrefix(s, "EGeneral:Permission denied"):
			return fmt.Errorf("%w: %w", e, collector.ErrPermanent)
		}
	}
	return e
}

// statusError classifies an HTTP status other than 200: 429 waits for
// Retry-After; other 4xx but 403 and 408 are permanent; the rest
// transient.
func (a *Adapter) statusError(resp *http.Response, body []byte) error {
	e := &APIError{Status: resp.StatusCode, Errors: []string{snippet(body)}}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		return &collector.RetryAfterError{After: a.retryAfter(resp.Header.Get("Retry-After")), Err: e}
	case s == http.StatusForbidden || s == http.StatusRequestTimeout:
		return e
	case s >= 400 && s < 500:
		return fmt.Errorf("%w: %w", e, collector.ErrPermanent)
	}
	return e
}

// throttledUntil reads "EService: Throttled: 1699999999".
func (a *Adapter) throttledUntil(s string, resp *http.Response) time.Duration {
	i := strings.LastIndexByte(s, ':')
	if i >= 0 {
		if sec, err := wire.ParseCount([]byte(strings.TrimSpace(s[i+1:]))); err == nil {
			d := time.Unix(sec, 0).Sub(a.rest.Now())
			return min(max(d, minRetryAfter), maxRetryAfter)
		}
	}
	return a.retryAfter(resp.Header.Get("Retry-After"))
}

// retryAfter reads a Retry-After header, else defaultRateLimitWait.
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

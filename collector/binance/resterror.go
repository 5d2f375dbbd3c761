package binance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/wire"
)

// APIError is a REST response other than 200, with Binance's error code and
// message when the body carries them ({"code":-1121,"msg":"Invalid symbol."},
// rest-api.md "Error Codes").
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is Binance's error code (errors.md), 0 when the body has none.
	Code int
	// Message is Binance's message, or the start of a body that is not
	// Binance's error JSON.
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("HTTP %d, code %d: %s", e.Status, e.Code, e.Message)
	}
	if e.Message != "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// Waits when a rate-limit response has no usable Retry-After header.
const (
	// defaultRateLimitWait: request weight is counted per minute.
	defaultRateLimitWait = time.Minute
	// defaultBanWait: IP bans last "from 2 minutes to 3 days".
	defaultBanWait = 2 * time.Minute
	// minRetryAfter keeps a Retry-After of 0 from turning into a busy loop.
	minRetryAfter = time.Second
)

// codeTooManyRequests is -1003 TOO_MANY_REQUESTS (errors.md): "Too many
// requests queued.", "Too much request weight used; current limit is %s
// request weight per %s. ..." and "Way too much request weight used; IP
// banned until %s. ...".
const codeTooManyRequests = -1003

// statusError classifies a response other than 200 (rest-api.md "HTTP
// Return Codes", "LIMITS"; errors.md):
//   - 429 (rate limit), 418 (IP ban) and code -1003 whatever the status:
//     a *collector.RetryAfterError honouring Retry-After, in seconds;
//     without a usable header, until the time of "IP banned until <ms>"
//     when the message names one, else a minute (418: two minutes);
//   - 403 (WAF), 408 and 5xx: transient, the issue is not the request;
//   - other 4xx: the request itself is wrong (-1121 invalid symbol, -1120
//     invalid interval, -1102 and -1100 bad parameters, all "11xx request
//     issues"), so it wraps collector.ErrPermanent; except codes -1000 to
//     -1099, Binance's "server or network issues", which are transient;
//   - anything else is transient.
func (a *Adapter) statusError(resp *http.Response, body []byte) error {
	e := &APIError{Status: resp.StatusCode}
	var b struct {
		Code *int   `json:"code"`
		Msg  string `json:"msg"`
	}
	if json.Unmarshal(body, &b) == nil && b.Code != nil {
		e.Code, e.Message = *b.Code, b.Msg
	} else {
		e.Message = snippet(body)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTeapot:
		return &collector.RetryAfterError{After: a.retryAfter(resp.Header.Get("Retry-After"), a.banWait(e.Message, defaultBanWait)), Err: e}
	case s == http.StatusTooManyRequests || e.Code == codeTooManyRequests:
		return &collector.RetryAfterError{After: a.retryAfter(resp.Header.Get("Retry-After"), a.banWait(e.Message, defaultRateLimitWait)), Err: e}
	case s == http.StatusForbidden || s == http.StatusRequestTimeout:
		return e
	case s >= 400 && s < 500:
		if e.Code <= -1000 && e.Code >= -1099 {
			return e
		}
		return fmt.Errorf("%w: %w", e, collector.ErrPermanent)
	}
	return e
}

// bannedUntil is the text before the end of an IP ban in -1003's
// message "Way too much request weight used; IP banned until %s." (%s:
// Unix milliseconds).
const bannedUntil = "banned until "

// banWait returns the wait a rate-limit message asks for when the response
// has no usable Retry-After: until the end of the ban it names (at least
// defaultBanWait when that time is unreadable or past), else def.
func (a *Adapter) banWait(msg string, def time.Duration) time.Duration {
	i := strings.Index(msg, bannedUntil)
	if i < 0 {
		return def
	}
	digits := msg[i+len(bannedUntil):]
	n := 0
	for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
		n++
	}
	ms, err := wire.ParseCount([]byte(digits[:n]))
	if err != nil || ms > maxMillis {
		return defaultBanWait
	}
	if d := time.UnixMilli(ms).Sub(a.rest.Now()); d > 0 {
		return d
	}
	return defaultBanWait
}

// retryAfter reads a Retry-After header: seconds, as Binance sends it, or
// an HTTP date. It returns def when the header is missing or unreadable.
func (a *Adapter) retryAfter(h string, def time.Duration) time.Duration {
	d := def
	if v, ok := wire.RetryAfter(h, a.rest.Now()); ok && v < 365*24*time.Hour {
		d = v
	}
	return max(d, minRetryAfter)
}

// snippet returns the start of a body for an error message.
func snippet(body []byte) string {
	const n = 200
	s := strings.TrimSpace(string(body))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// rawCount reads a REST field that must be a non-negative JSON integer.
func rawCount(raw json.RawMessage, name string) (int64, error) {
	n, err := wire.ParseCount(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// rawDecimal reads a REST field that must be a decimal in a JSON string.
func rawDecimal(raw json.RawMessage, name string) (decimal.Decimal, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return decimal.Decimal{}, fmt.Errorf("%s: want a decimal string: %w", name, err)
	}
	d, err := wire.ParseDecimal([]byte(s))
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

package okx

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

const (
	// maxBody bounds a REST response: a full page of candles is about 40 KB.
	maxBody = 4 << 20
	// defaultRetryAfter is the wait asked for when OKX limits the rate
	// without a Retry-After header: its limits count requests per 2 s.
	defaultRetryAfter = 2 * time.Second
)

// get sends one GET request and returns the body of a successful answer
// (HTTP 200 and "code":"0") and the time it was read. Errors: a
// *collector.RetryAfterError for rate limits, an error wrapping
// collector.ErrPermanent for requests that cannot succeed (see
// classifyREST), any other error is transient. OKX's refusals are
// *collector.ExchangeError inside those.
func (a *Adapter) get(ctx context.Context, path string, q url.Values) ([]byte, time.Time, error) {
	resp, body, err := a.rest.Get(ctx, path+"?"+q.Encode())
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("GET %s: %w", path, err)
	}
	received := a.rest.Now().UTC()
	code, msg, ok := envelope(body)
	if resp.StatusCode == http.StatusOK && ok && code == "0" {
		return body, received, nil
	}
	if err := classifyREST(resp, code, msg, ok, received); err != nil {
		return nil, time.Time{}, fmt.Errorf("GET %s: %w", path, err)
	}
	return nil, time.Time{}, fmt.Errorf("GET %s: HTTP %s without an OKX response", path, resp.Status)
}

// envelope reads "code" and "msg" of an OKX response
// {"code":"0","msg":"","data":[...]}. ok is false when the body is not such
// an object.
func envelope(body []byte) (code, msg string, ok bool) {
	s := wire.NewScanner(body)
	var codeSp, msgSp wire.Span
	err := s.Object(func(key []byte) error {
		sp, err := s.Value()
		switch string(key) {
		case "code":
			codeSp = sp
		case "msg":
			msgSp = sp
		}
		return err
	})
	if err != nil || s.End() != nil {
		return "", "", false
	}
	switch codeSp.Kind {
	case wire.KindString:
		v, err := wire.Text(body, codeSp)
		if err != nil {
			return "", "", false
		}
		code = string(v)
	case wire.KindNumber:
		code = string(body[codeSp.Off:codeSp.End])
	default:
		return "", "", false
	}
	if msgSp.Kind == wire.KindString {
		if v, err := wire.Text(body, msgSp); err == nil {
			msg = string(v)
		}
	}
	return code, msg, true
}

// classifyREST turns a refused request into an error (error-code-rest-api-
// public): rate limits (HTTP 429, codes 50011, 50013, 50040) ask to retry
// after the Retry-After header or defaultRetryAfter; an unknown
// instrument, a parameter error, a missing permission or a gone endpoint
// is permanent; anything else is transient. It returns nil when there is
// nothing to classify (a 200 without an OKX body).
func classifyREST(resp *http.Response, code, msg string, hasBody bool, now time.Time) error {
	var cause error
	if hasBody {
		cause = &collector.ExchangeError{Exchange: market.OKX, Code: code, Message: msg, Permanent: permanentRESTCode(code)}
	} else if resp.StatusCode != http.StatusOK {
		cause = fmt.Errorf("HTTP %s", resp.Status)
	} else {
		return nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || code == "50011" || code == "50013" || code == "50040":
		return &collector.RetryAfterError{After: retryAfter(resp.Header.Get("Retry-After"), now), Err: fmt.Errorf("HTTP %d: %w", resp.StatusCode, cause)}
	case permanentRESTCode(code):
		return fmt.Errorf("HTTP %d: %w: %w", resp.StatusCode, cause, collector.ErrPermanent)
	case transientRESTCode(code):
		return fmt.Errorf("HTTP %d: %w", resp.StatusCode, cause)
	}
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusGone:
		return fmt.Errorf("HTTP %d: %w: %w", resp.StatusCode, cause, collector.ErrPermanent)
	}
	return fmt.Errorf("HTTP %d: %w", resp.StatusCode, cause)
}

// permanentRESTCode reports whether a REST code means that the same request
// cannot succeed later.
func permanentRESTCode(code string) bool {
	switch code {
	case "51001", // instrument ID doesn't exist
		"51000",                            // parameter error
		"50014", "50015", "50016", "50024", // parameter empty, missing or conflicting
		"50025", "50039", "50047", // parameter count, pagination type, settled instrument
		"50002", "50006", // malformed request
		"50030": // no permission for the endpoint
		return true
	}
	return false
}

// transientRESTCode reports the codes that are worth retrying whatever the
// HTTP status: service unavailable, timeout, system error.
func transientRESTCode(code string) bool {
	switch code {
	case "50001", "50004", "50026":
		return true
	}
	return false
}

// retryAfter parses a Retry-After header (seconds or an HTTP date, read
// against now).
func retryAfter(h string, now time.Time) time.Duration {
	if d, ok := wire.RetryAfter(h, now); ok && d > 0 {
		return d
	}
	return defaultRetryAfter
}

// readData calls row for each element of the "data" array of a successful
// response.
func readData(body []byte, row func(s *wire.Scanner) error) error {
	s := wire.NewScanner(body)
	seen := false
	err := s.Object(func(key []byte) error {
		if string(key) != "data" {
			_, err := s.Value()
			return err
		}
		if seen {
			return badField("data", errDuplicate)
		}
		seen = true
		if s.Peek() != '[' {
			sp, err := s.Value()
			if err != nil {
				return err
			}
			return wrongKind("data", "array", sp.Kind)
		}
		return s.Array(func() error { return row(&s) })
	})
	if err == nil {
		err = s.End()
	}
	if err == nil && !seen {
		err = badField("data", errMissing)
	}
	if err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

package wire

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// parseURL parses raw and checks its scheme, host, credentials and
// fragment. Errors show the URL with any password redacted.
func parseURL(raw, scheme, secureScheme string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	shown := u.Redacted()
	if u.Scheme != scheme && u.Scheme != secureScheme {
		return nil, fmt.Errorf("%q: want scheme %s or %s", shown, scheme, secureScheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: want a host, as in %s://host:port", shown, secureScheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q: credentials in the URL are not supported", shown)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%q: drop the fragment", shown)
	}
	return u, nil
}

// CheckWSURL checks a full WebSocket URL, dialled as given: scheme ws or
// wss, a host, no credentials and no fragment; a path and a query are
// allowed.
func CheckWSURL(raw string) error {
	_, err := parseURL(raw, "ws", "wss")
	return err
}

// BaseURL checks a base URL to which an adapter appends the exchange's own
// paths: scheme scheme or secureScheme, a host, no credentials, query or
// fragment, and a path that does not already end in one of apiPaths. It
// returns the URL without a trailing slash.
func BaseURL(raw, scheme, secureScheme string, apiPaths ...string) (string, error) {
	u, err := parseURL(raw, scheme, secureScheme)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", fmt.Errorf("%q: drop the query; give the base URL only", u.Redacted())
	}
	path := strings.TrimRight(u.Path, "/")
	for _, p := range apiPaths {
		if strings.HasSuffix(path, p) || strings.Contains(path, p+"/") {
			return "", fmt.Errorf("%q: give the base URL without %s; the adapter appends the path", u.Redacted(), p)
		}
	}
	return strings.TrimRight(raw, "/"), nil
}

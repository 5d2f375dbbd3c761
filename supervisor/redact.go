package supervisor

import (
	"regexp"
	"strings"
)

// Redacted replaces a secret in every text the supervisor reports.
const Redacted = "[REDACTED]"

// redactor removes secrets from error texts before they are logged,
// reported, stored or exported: the listed secrets, the password of any URL
// (scheme://user:password@host) and password=... of a key/value connection
// string, listed or not.
type redactor struct {
	secrets  []string
	urlPass  *regexp.Regexp
	keyValue *regexp.Regexp
}

func newRedactor(secrets []string) *redactor {
	r := &redactor{
		urlPass:  regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):([^@\s/]*)@`),
		keyValue: regexp.MustCompile(`(?i)\b(password|passwd|pwd|token|secret|api_?key)=('[^']*'|\S+)`),
	}
	for _, s := range secrets {
		// Very short values would redact ordinary words; they are not
		// secrets worth the name.
		if len(strings.TrimSpace(s)) >= 4 {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// text returns s without secrets.
func (r *redactor) text(s string) string {
	if s == "" {
		return s
	}
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, Redacted)
	}
	s = r.urlPass.ReplaceAllString(s, "${1}:"+Redacted+"@")
	return r.keyValue.ReplaceAllString(s, "${1}="+Redacted)
}

// err returns err's text without secrets ("" for nil).
func (r *redactor) err(err error) string {
	if err == nil {
		return ""
	}
	return r.text(err.Error())
}

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
	// Driver details that the status reports leave out (report): the
	// database driver's connection errors name the user, the database and
	// the host, which an unauthenticated reader of /api/status must not
	// learn. Logs keep them.
	//
	// pgConnect is pgconn's "failed to connect to `user=u database=d`:
	// 10.0.0.5:5432 (db.internal)" prefix; connParams are key=value
	// connection parameters left elsewhere; dialAddr is the address of a
	// dial error ("dial tcp 10.0.0.5:5432: ").
	pgConnect, connParams, dialAddr *regexp.Regexp
}

func newRedactor(secrets []string) *redactor {
	r := &redactor{
		urlPass:  regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):([^@\s/]*)@`),
		keyValue: regexp.MustCompile(`(?i)\b(password|passwd|pwd|token|secret|api_?key)=('[^']*'|\S+)`),

		pgConnect:  regexp.MustCompile("failed to connect to `[^`]*`(: \\S+ \\([^)]*\\))?"),
		connParams: regexp.MustCompile(`(?i)\b(host|hostaddr|user|database|dbname|port)=('[^']*'|[^\s` + "`" + `]+)`),
		dialAddr:   regexp.MustCompile(`\b(dial|read|write) (tcp[46]?|unix) \S+?:(\s)`),
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

// report returns s for a status report: without secrets and without the
// database driver's connection details (host, user, database).
func (r *redactor) report(s string) string {
	s = r.text(s)
	if s == "" {
		return s
	}
	s = r.pgConnect.ReplaceAllString(s, "failed to connect to the database")
	s = r.connParams.ReplaceAllString(s, "${1}="+Redacted)
	return r.dialAddr.ReplaceAllString(s, "${1} ${2}:${3}")
}

// err returns err's text without secrets ("" for nil).
func (r *redactor) err(err error) string {
	if err == nil {
		return ""
	}
	return r.text(err.Error())
}

// Package credentials holds the API keys of private exchange streams: read
// from the environment or from files named by *_FILE variables (the Docker
// and Kubernetes secrets convention), and kept in a type that never prints
// its value, whatever formats, logs or encodes it.
//
// It imports nothing of marketetl's, so that every layer can hold a Secret.
package credentials

import (
	"fmt"
	"log/slog"
)

// Redacted is what a Secret prints instead of its value.
const Redacted = "[REDACTED]"

// Secret is a value that must never be printed: an API key, a secret or a
// passphrase. Its only way out is Reveal, which the signers call. fmt (every
// verb, %#v included), encoding/json, encoding/text, slog and zap (which
// formats with fmt or encodes with JSON) all print Redacted.
type Secret struct {
	v string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the value. Call it only to sign or to send the value to the
// exchange it belongs to, never to print it.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether there is no value.
func (s Secret) Empty() bool { return s.v == "" }

// String implements fmt.Stringer: Redacted (or "" when empty, so that a
// missing value is visible as such).
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer for %#v.
func (s Secret) GoString() string { return "credentials.Secret(" + s.String() + ")" }

// Format implements fmt.Formatter so that no verb (%s, %v, %q, %x, %d, ...)
// can print the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText implements encoding.TextMarshaler (YAML, zap's reflection
// encoder, map keys).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

var (
	_ fmt.Formatter  = Secret{}
	_ fmt.GoStringer = Secret{}
	_ slog.LogValuer = Secret{}
	_ fmt.Stringer   = Secret{}
)

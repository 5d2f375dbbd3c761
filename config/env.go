// Package config reads marketetl's configuration: environment variables
// (read once at startup, validated, refused with an error naming the
// variable) and the YAML file of collectors (ETL_CONFIG).
package config

import (
	"errors"
	"fmt"
	"marketetl/spec"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Variable documents one environment variable.
type Variable struct {
	Name    string
	Default string
	Doc     string
	// Secret variables are never printed.
	Secret bool
}

// env reads variables through lookup, records every variable it was asked
// for (so that the documentation is derived from the code) and collects
// every error.
type env struct {
	lookup func(string) (string, bool)
	vars   []Variable
	errs   []error
}

func (e *env) get(name, def, doc string, secret bool) (string, bool) {
	e.vars = append(e.vars, Variable{Name: name, Default: def, Doc: doc, Secret: secret})
	v, ok := e.lookup(name)
	if !ok {
		return def, false
	}
	return strings.TrimSpace(v), true
}

func (e *env) fail(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (e *env) str(name, def, doc string) string {
	v, _ := e.get(name, def, doc, false)
	return v
}

func (e *env) secret(name, doc string) string {
	v, _ := e.get(name, "", doc, true)
	return v
}

func (e *env) choice(name, def, doc string, allowed ...string) string {
	v, _ := e.get(name, def, doc, false)
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	e.fail(name, "%q: want one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (e *env) integer(name string, def, min, max int, doc string) int {
	v, set := e.get(name, strconv.Itoa(def), doc, false)
	if !set {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.fail(name, "%q is not a whole number", v)
		return def
	}
	if n < min || n > max {
		e.fail(name, "%d is out of range [%d, %d]", n, min, max)
		return def
	}
	return n
}

func (e *env) boolean(name string, def bool, doc string) bool {
	v, set := e.get(name, strconv.FormatBool(def), doc, false)
	if !set {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(name, "%q: want true or false", v)
		return def
	}
	return b
}

// duration reads a Go duration ("5m") or a bare number of seconds ("300").
func (e *env) duration(name string, def, min time.Duration, doc string) time.Duration {
	v, set := e.get(name, durationDoc(def), doc, false)
	if !set {
		return def
	}
	d, err := spec.ParseDuration(v)
	if err != nil {
		e.fail(name, "%v", err)
		return def
	}
	if d < min {
		e.fail(name, "%s is below the minimum %s", d, min)
		return def
	}
	return d
}

// urlVar reads a URL whose scheme is one of schemes. Its value may hold a
// password, so errors show it redacted.
func (e *env) urlVar(name, def, doc string, secret bool, schemes ...string) string {
	v, _ := e.get(name, def, doc, secret)
	if v == "" {
		e.fail(name, "empty; want a URL such as %s", def)
		return def
	}
	u, err := url.Parse(v)
	if err != nil {
		e.fail(name, "does not parse as a URL (value hidden: it may hold a password)")
		return def
	}
	for _, s := range schemes {
		if u.Scheme == s {
			if u.Host == "" && !strings.HasPrefix(s, "postgres") {
				e.fail(name, "%s has no host", u.Redacted())
				return def
			}
			return v
		}
	}
	e.fail(name, "%s: scheme %q, want one of %s", u.Redacted(), u.Scheme, strings.Join(schemes, ", "))
	return def
}

func durationDoc(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.String()
}

// LookupEnv is os.LookupEnv, for Load.
func LookupEnv(name string) (string, bool) { return os.LookupEnv(name) }

// Variables lists every environment variable Load reads, with its default
// and description, in the order Load reads them.
func Variables() []Variable {
	e := &env{lookup: func(string) (string, bool) { return "", false }}
	load(e)
	return e.vars
}

// Load reads the configuration through lookup (use LookupEnv) and returns
// every problem at once, each naming its variable.
func Load(lookup func(string) (string, bool)) (Config, error) {
	e := &env{lookup: lookup}
	cfg := load(e)
	if len(e.errs) > 0 {
		return cfg, fmt.Errorf("configuration: %w", errors.Join(e.errs...))
	}
	return cfg, nil
}

package credentials

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Credentials are one account's API keys on one exchange.
type Credentials struct {
	// Name is the credentials' name as configured (upper-cased): the prefix
	// of its variables, e.g. OKX_MAIN for OKX_MAIN_API_KEY.
	Name string
	// Key is the API key. The exchange sees it on every request, but it
	// identifies the account, so it is kept out of logs like the rest.
	Key Secret
	// Secret is the signing secret: an HMAC secret, or a PEM private key
	// (Binance Ed25519 and RSA keys).
	Secret Secret
	// Passphrase is set for exchanges that have one (OKX, Coinbase).
	Passphrase Secret
}

// String implements fmt.Stringer without any of the values.
func (c Credentials) String() string { return "credentials " + c.Name }

// Need says which values an exchange requires.
type Need struct {
	// Passphrase is true for exchanges whose keys come with a passphrase.
	Passphrase bool
}

// Lookup reads an environment variable; os.LookupEnv is one.
type Lookup func(key string) (string, bool)

// ErrInsecureFile is returned for a key file that group or others may read.
var ErrInsecureFile = errors.New("key file is readable by group or others")

// Load reads the credentials called name: <NAME>_API_KEY, <NAME>_API_SECRET
// and, when need.Passphrase, <NAME>_API_PASSPHRASE, each of which may
// instead be given as <VAR>_FILE naming a file that holds the value (a
// trailing line break is dropped). A file that group or others can read is
// refused, as ssh refuses such a private key. Every problem is reported,
// naming the variable and what to do; no value is ever part of an error.
func Load(name string, need Need, lookup Lookup) (Credentials, error) {
	up := strings.ToUpper(name)
	if !validName(up) {
		return Credentials{}, fmt.Errorf("credentials %q: want letters, digits and '_' (it prefixes variables such as %s_API_KEY)", name, up)
	}
	c := Credentials{Name: up}
	var errs []error
	read := func(suffix string, dst *Secret) {
		v, err := value(up+suffix, lookup)
		if err != nil {
			errs = append(errs, err)
			return
		}
		*dst = v
	}
	read("_API_KEY", &c.Key)
	read("_API_SECRET", &c.Secret)
	if need.Passphrase {
		read("_API_PASSPHRASE", &c.Passphrase)
	}
	if len(errs) > 0 {
		return Credentials{}, fmt.Errorf("credentials %s: %w", up, errors.Join(errs...))
	}
	return c, nil
}

// value reads variable v, directly or through v_FILE.
func value(v string, lookup Lookup) (Secret, error) {
	direct, hasDirect := lookup(v)
	path, hasFile := lookup(v + "_FILE")
	switch {
	case hasDirect && hasFile && direct != "" && path != "":
		return Secret{}, fmt.Errorf("%s and %s_FILE are both set: keep one", v, v)
	case hasFile && path != "":
		return readFile(v+"_FILE", path)
	case hasDirect && direct != "":
		return NewSecret(direct), nil
	default:
		return Secret{}, fmt.Errorf("%s is not set (set it, or %s_FILE to a file holding it)", v, v)
	}
}

// readFile reads a key file, refusing one that group or others can read.
func readFile(variable, path string) (Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return Secret{}, fmt.Errorf("%s: open key file: %w", variable, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Secret{}, fmt.Errorf("%s: stat key file: %w", variable, err)
	}
	if !fi.Mode().IsRegular() {
		return Secret{}, fmt.Errorf("%s: %s is not a regular file", variable, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Secret{}, fmt.Errorf("%s: %s has mode %04o: %w; run chmod 600 on it", variable, path, perm, ErrInsecureFile)
	}
	const max = 64 << 10
	buf, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return Secret{}, fmt.Errorf("%s: read key file %s: %w", variable, path, err)
	}
	if len(buf) > max {
		return Secret{}, fmt.Errorf("%s: key file %s is larger than 64 KiB", variable, path)
	}
	s := strings.TrimRight(string(buf), "\r\n")
	if s == "" {
		return Secret{}, fmt.Errorf("%s: key file %s is empty", variable, path)
	}
	return NewSecret(s), nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

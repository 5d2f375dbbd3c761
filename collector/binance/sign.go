package binance

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"

	"marketetl/credentials"
)

// Signing of private requests (Binance spot web-socket-api.md "SIGNED
// request security", rest-api.md "SIGNED endpoint security",
// faqs/api_key_types.md). Binance has three kinds of API key:
//   - HMAC: the secret is a text; signature = hex(HMAC-SHA256(secret, payload));
//   - Ed25519: the secret is a PKCS#8 PEM private key; signature =
//     Base64(Ed25519(payload));
//   - RSA: the secret is a PEM private key (PKCS#8 or PKCS#1); signature =
//     Base64(RSASSA-PKCS1-v1_5(SHA-256(payload))).
//
// A PEM secret selects the asymmetric kinds; anything else is HMAC.

// KeyKind names the kind of a Binance API key.
type KeyKind string

// The kinds of Binance API key.
const (
	KeyHMAC    KeyKind = "hmac"
	KeyEd25519 KeyKind = "ed25519"
	KeyRSA     KeyKind = "rsa"
)

// Signer signs request payloads with one API key. It is safe for concurrent use.
type Signer struct {
	kind KeyKind
	hmac []byte
	ed   ed25519.PrivateKey
	rsa  *rsa.PrivateKey
}

// ErrBadKey is returned for a PEM secret that holds no usable private key.
var ErrBadKey = errors.New("binance API secret: PEM block holds no Ed25519 or RSA private key")

// NewSigner reads secret: a PEM private key (Ed25519 or RSA) or an HMAC
// secret text. Errors never contain the secret.
func NewSigner(secret credentials.Secret) (*Signer, error) {
	text := secret.Reveal()
	if !strings.Contains(text, "-----BEGIN") {
		if text == "" {
			return nil, errors.New("binance API secret is empty")
		}
		return &Signer{kind: KeyHMAC, hmac: []byte(text)}, nil
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, ErrBadKey
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		switch k := k.(type) {
		case ed25519.PrivateKey:
			return &Signer{kind: KeyEd25519, ed: k}, nil
		case *rsa.PrivateKey:
			return &Signer{kind: KeyRSA, rsa: k}, nil
		}
		return nil, ErrBadKey
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return &Signer{kind: KeyRSA, rsa: k}, nil
	}
	return nil, ErrBadKey
}

// Kind reports the key's kind.
func (s *Signer) Kind() KeyKind { return s.kind }

// Sign returns the signature of payload: hex for HMAC, Base64 for Ed25519
// and RSA.
func (s *Signer) Sign(payload string) (string, error) {
	switch s.kind {
	case KeyHMAC:
		m := hmac.New(sha256.New, s.hmac)
		m.Write([]byte(payload))
		return hex.EncodeToString(m.Sum(nil)), nil
	case KeyEd25519:
		return base64.StdEncoding.EncodeToString(ed25519.Sign(s.ed, []byte(payload))), nil
	case KeyRSA:
		sum := sha256.Sum256([]byte(payload))
		sig, err := rsa.SignPKCS1v15(rand.Reader, s.rsa, crypto.SHA256, sum[:])
		if err != nil {
			return "", fmt.Errorf("sign with the RSA key: %w", err)
		}
		return base64.StdEncoding.EncodeToString(sig), nil
	}
	return "", fmt.Errorf("sign: unknown key kind %q", s.kind)
}

// Param is one request parameter.
type Param struct{ Name, Value string }

// WSPayload returns what a WebSocket API request signs: every parameter but
// signature, sorted by name, joined as name=value with '&', not
// percent-encoded (web-socket-api.md "Signing request payload").
func WSPayload(params []Param) string {
	ps := make([]Param, 0, len(params))
	for _, p := range params {
		if p.Name != "signature" {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	return b.String()
}

package coinbase

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"marketetl/credentials"
)

// Signing of private requests (Coinbase Exchange "websocket-feed/
// authentication" and "rest-api/authentication"): HMAC-SHA256 keyed with
// the Base64-DECODED secret, output Base64. The WebSocket feed has no
// login: the key, passphrase, timestamp and signature of GET
// /users/self/verify go into every subscribe message.

// verifyPath is the request path signed for the WebSocket feed.
const verifyPath = "/users/self/verify"

// ErrBadSecret is returned for a secret that is not Base64, which every
// Coinbase Exchange API secret is.
var ErrBadSecret = fmt.Errorf("coinbase API secret is not Base64 (copy it exactly as Coinbase showed it)")

// SignFeed returns the signature of an authenticated subscribe at timestamp
// (seconds since the epoch, decimals allowed, as text).
func SignFeed(secret credentials.Secret, timestamp string) (string, error) {
	return SignREST(secret, timestamp, "GET", verifyPath, "")
}

// SignREST returns CB-ACCESS-SIGN for a REST request: Base64(HMAC-SHA256(
// Base64Decode(secret), timestamp + method + requestPath + body)).
func SignREST(secret credentials.Secret, timestamp, method, requestPath, body string) (string, error) {
	key, err := base64.StdEncoding.DecodeString(secret.Reveal())
	if err != nil {
		return "", ErrBadSecret
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte(method))
	m.Write([]byte(requestPath))
	m.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

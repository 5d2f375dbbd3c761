package okx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"marketetl/credentials"
)

// Signing of private requests (OKX API v5 "overview-websocket-login" and
// "overview-rest-authentication"): HMAC-SHA256 keyed with the secret text
// as it is (its UTF-8 bytes, not decoded), output Base64.

// loginPath is the request path OKX signs for a WebSocket login.
const loginPath = "/users/self/verify"

// SignLogin returns the sign of a WebSocket login at timestamp, which is
// Unix epoch seconds as text: Base64(HMAC-SHA256(secret, timestamp + "GET" +
// "/users/self/verify")).
func SignLogin(secret credentials.Secret, timestamp string) string {
	return SignREST(secret, timestamp, "GET", loginPath, "")
}

// SignREST returns OK-ACCESS-SIGN for a REST request: Base64(HMAC-SHA256(
// secret, timestamp + method + requestPath + body)), where timestamp is
// ISO-8601 UTC with milliseconds (2020-12-08T09:08:57.715Z), requestPath
// includes the query string and body is empty for GET.
func SignREST(secret credentials.Secret, timestamp, method, requestPath, body string) string {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write([]byte(timestamp))
	m.Write([]byte(method))
	m.Write([]byte(requestPath))
	m.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

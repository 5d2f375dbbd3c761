package supervisor

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"sync"
)

// statusPageHTML is the status page: one self-contained HTML file (no
// build step, no external assets) that polls GET /api/status and
// GET /metrics and renders the collectors, their health and freshness,
// open gaps, rejects and the pipeline's rates. Mutations (restart, enable,
// disable) send the admin token the operator types in.
//
//go:embed statuspage/index.html
var statusPageHTML []byte

// statusPageCSP allows the page's own inline script and style (by hash)
// and requests to this server only.
var statusPageCSP = sync.OnceValue(func() string {
	csp := "default-src 'none'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	open, close := []byte("<script>"), []byte("</script>")
	i := bytes.Index(statusPageHTML, open)
	j := bytes.LastIndex(statusPageHTML, close)
	if i < 0 || j < i {
		return csp
	}
	sum := sha256.Sum256(statusPageHTML[i+len(open) : j])
	return csp + "; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
})

// statusPage serves the status page (GET /).
func (a *API) statusPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", statusPageCSP())
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(statusPageHTML) // the client has gone; nothing to do
}

package wire

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRESTDefaults: the defaults every adapter gets from NewREST.
func TestRESTDefaults(t *testing.T) {
	r, err := NewREST(RESTConfig{}, "https://api.example.com/", "/api/v3")
	if err != nil {
		t.Fatal(err)
	}
	c := r.cfg
	switch {
	case r.Base() != "https://api.example.com":
		t.Errorf("Base %q", r.Base())
	case c.HTTPClient == nil || c.HTTPClient.Timeout != DefaultRESTTimeout:
		t.Errorf("HTTPClient %+v, want a client with timeout %s", c.HTTPClient, DefaultRESTTimeout)
	case c.UserAgent != DefaultUserAgent:
		t.Errorf("UserAgent %q", c.UserAgent)
	case c.MaxBody != DefaultMaxBody:
		t.Errorf("MaxBody %d", c.MaxBody)
	case c.Now == nil:
		t.Error("Now not set")
	}
	r, err = NewREST(RESTConfig{Timeout: 5 * time.Second, UserAgent: "probe/1", MaxBody: 10}, "http://h")
	if err != nil {
		t.Fatal(err)
	}
	if r.cfg.HTTPClient.Timeout != 5*time.Second || r.cfg.UserAgent != "probe/1" || r.cfg.MaxBody != 10 {
		t.Errorf("settings not kept: %+v", r.cfg)
	}
}

// TestRESTBaseURL: the base URL is checked with the adapter's API paths
// and the error names the field.
func TestRESTBaseURL(t *testing.T) {
	for _, tc := range []struct {
		name, url, wantErr string
	}{
		{"ok with prefix", "https://proxy.example.com/okx", ""},
		{"api path given", "https://www.okx.com/api/v5", "RESTURL"},
		{"websocket scheme", "wss://www.okx.com", "want scheme http or https"},
		{"query", "https://www.okx.com?x=1", "drop the query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewREST(RESTConfig{BaseURL: tc.url}, "https://www.okx.com", "/api/v5")
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewREST(%q) error %v, want %q", tc.url, err, tc.wantErr)
			}
		})
	}
}

// TestRESTBudget: with a Budget every request is counted by it, and the
// caller's client is left as it was.
func TestRESTBudget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/limited" {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	b := NewBudget(BudgetConfig{Name: "test"})
	hc := srv.Client()
	orig := hc.Transport
	r, err := NewREST(RESTConfig{BaseURL: srv.URL, HTTPClient: hc, Budget: b}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/a", "/b", "/limited"} {
		if _, _, err := r.Get(t.Context(), path); err != nil {
			t.Fatal(err)
		}
	}
	if st := b.Stats(); st.Requests != 3 || st.Throttled != 1 {
		t.Errorf("budget stats %+v, want 3 requests and 1 throttled", st)
	}
	if hc.Transport != orig {
		t.Error("the caller's client was modified")
	}
}

package wire

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/json" {
			t.Errorf("Accept %q", r.Header.Get("Accept"))
		}
		if r.Header.Get("User-Agent") != DefaultUserAgent {
			t.Errorf("User-Agent %q", r.Header.Get("User-Agent"))
		}
		switch r.URL.Path {
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 101)))
		case "/limited":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"code":-1003}`))
		default:
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}))
	defer srv.Close()
	tests := []struct {
		name, path string
		status     int
		body       string
		wantErr    string
	}{
		{name: "ok", path: "/", status: 200, body: `{"ok":true}`},
		{name: "error status passes through with its body", path: "/limited", status: 429, body: `{"code":-1003}`},
		{name: "oversized", path: "/big", wantErr: "larger than 100 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rest, err := NewREST(RESTConfig{HTTPClient: srv.Client(), MaxBody: 100}, srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp, body, err := rest.Get(t.Context(), tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || resp.StatusCode != tc.status || string(body) != tc.body {
				t.Fatalf("status %v body %q err %v", resp, body, err)
			}
		})
	}
	closed, err := NewREST(RESTConfig{BaseURL: "http://127.0.0.1:1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := closed.Get(t.Context(), "/"); err == nil {
		t.Error("no error from a closed port")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h  string
		d  time.Duration
		ok bool
	}{
		{"3", 3 * time.Second, true}, {" 120 ", 2 * time.Minute, true}, {"0", 0, true},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
		{now.Add(-5 * time.Second).Format(http.TimeFormat), -5 * time.Second, true},
		{"", 0, false}, {"-1", 0, false}, {"soon", 0, false}, {"99999999999999999999", 0, false},
	} {
		d, ok := RetryAfter(tc.h, now)
		if d != tc.d || ok != tc.ok {
			t.Errorf("RetryAfter(%q) = %s, %t; want %s, %t", tc.h, d, ok, tc.d, tc.ok)
		}
	}
}

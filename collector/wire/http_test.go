package wire

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/json" {
			t.Errorf("Accept %q", r.Header.Get("Accept"))
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
			resp, body, err := Get(t.Context(), srv.Client(), srv.URL+tc.path, 100)
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
	if _, _, err := Get(t.Context(), srv.Client(), "http://127.0.0.1:1/", 100); err == nil {
		t.Error("no error from a closed port")
	}
}

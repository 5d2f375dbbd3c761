package wire

import (
	"strings"
	"testing"
)

func TestCheckWSURL(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{in: "wss://ws.okx.com:8443/ws/v5/public"},
		{in: "ws://127.0.0.1:9/coinbase/?x=1"},
		{in: "https://ws.okx.com", wantErr: "want scheme ws or wss"},
		{in: "wss:///path", wantErr: "want a host"},
		{in: "wss://u:s3cret@host/", wantErr: "credentials"},
		{in: "wss://host/#frag", wantErr: "fragment"},
		{in: "wss://host:port:x", wantErr: "not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			err := CheckWSURL(tc.in)
			check(t, err, tc.wantErr)
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("password shown: %v", err)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "https://api.binance.com", want: "https://api.binance.com"},
		{in: "http://127.0.0.1:9/okx/", want: "http://127.0.0.1:9/okx"},
		{in: "https://www.okx.com/api/v5", wantErr: "without /api/v5"},
		{in: "https://www.okx.com/api/v5/market", wantErr: "without /api/v5"},
		{in: "https://host/?q=1", wantErr: "drop the query"},
		{in: "wss://host", wantErr: "want scheme http or https"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := BaseURL(tc.in, "http", "https", "/api/v5")
			check(t, err, tc.wantErr)
			if tc.wantErr == "" && got != tc.want {
				t.Errorf("BaseURL = %q, want %q", got, tc.want)
			}
		})
	}
}

func check(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}

package coinbase

import (
	"errors"
	"strings"
	"testing"

	"marketetl/credentials"
)

// Coinbase publishes no test vector for the Exchange scheme. These are
// computed from the documented rule (websocket-feed/authentication: "base64-
// decode the alphanumeric secret string (resulting in 64 bytes)", pre-hash
// timestamp + "GET" + "/users/self/verify") with the secret made of the
// bytes 0x00..0x3f, by Python's hmac and openssl, which agree.
func TestSign(t *testing.T) {
	secret := credentials.NewSecret("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==")
	tests := []struct {
		name, ts, path, want string
	}{
		{"feed, integer seconds", "1700000000", verifyPath, "4w5N81jN+R8BEl+8gu26Lel0jalXF5uTezix+T8v9eY="},
		{"feed, decimal seconds", "1700000000.123", verifyPath, "maXKiSsLPYaOmwbHMYPOnAk9dnfBM1tLuI8FmCJJfqM="},
		{"accounts", "1700000000", "/accounts", "rGG1JqXQ+E6pZei33vupSfjDznqIYp7EiYs3JKWtKIw="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SignREST(secret, tt.ts, "GET", tt.path, "")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("SignREST = %s, want %s", got, tt.want)
			}
			// Keying with the undecoded text is the classic mistake; its
			// result for the first case is known.
			if tt.name == "feed, integer seconds" && got == "mrfYJJfLgYAQ17WPZ6ktZ5KtXBkLLB6MI9g6SvPc1ds=" {
				t.Error("signed with the undecoded secret")
			}
		})
	}
	feed, err := SignFeed(secret, "1700000000")
	if err != nil || feed != tests[0].want {
		t.Errorf("SignFeed = %s, %v", feed, err)
	}
	_, err = SignFeed(credentials.NewSecret("not base64 !!"), "1")
	if !errors.Is(err, ErrBadSecret) || strings.Contains(err.Error(), "not base64 !!") {
		t.Errorf("bad secret: %v", err)
	}
}

package okx

import (
	"testing"

	"marketetl/credentials"
)

// The OKX documents publish no reproducible signature (the login page's sign
// does not match its example secret). These vectors are computed from the
// documented pre-hash rule (overview-websocket-login, overview-rest-
// authentication-signature) with the documents' example secret, by two
// independent HMAC implementations (Python's hmac and openssl dgst -hmac).
func TestSign(t *testing.T) {
	secret := credentials.NewSecret("22582BD0CFF14C41EDBF1AB98506286D")
	if got, want := SignLogin(secret, "1538054050"), "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="; got != want {
		t.Errorf("SignLogin = %s, want %s", got, want)
	}
	tests := []struct{ name, path, want string }{
		{"balance with query", "/api/v5/account/balance?ccy=BTC", "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="},
		{"balance", "/api/v5/account/balance", "AkD5YszBhggtIyjDlmTy/9PpNVntel+1Lff8wh0qpQw="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SignREST(secret, "2020-12-08T09:08:57.715Z", "GET", tt.path, ""); got != tt.want {
				t.Errorf("SignREST = %s, want %s", got, tt.want)
			}
		})
	}
}

package binance

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"marketetl/credentials"
)

// The example key and secret of Binance's spot API documents.
const (
	docAPIKey = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
	docSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
)

// RFC 8032 section 7.1, test 1, as the PKCS#8 PEM Binance expects.
const rfc8032Test1 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n"

func TestWSPayloadAndHMAC(t *testing.T) {
	s, err := NewSigner(credentials.NewSecret(docSecret))
	if err != nil || s.Kind() != KeyHMAC {
		t.Fatalf("NewSigner: %v, kind %v", err, s.Kind())
	}
	tests := []struct {
		name   string
		params []Param
		want   string
	}{
		// Published in web-socket-api.md ("Signing request payload" example, order.place).
		{"published order.place", []Param{
			{"symbol", "BTCUSDT"}, {"side", "SELL"}, {"type", "LIMIT"}, {"timeInForce", "GTC"},
			{"quantity", "0.01000000"}, {"price", "52000.00"}, {"recvWindow", "100"},
			{"timestamp", "1645423376532"}, {"apiKey", docAPIKey}, {"signature", "ignored"},
		}, "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"},
		// Published in web-socket-api.md (session.logon and account.status examples).
		{"published session.logon", []Param{{"timestamp", "1649729878532"}, {"apiKey", docAPIKey}},
			"1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed"},
		{"published account.status", []Param{{"timestamp", "1660801839480"}, {"apiKey", docAPIKey}},
			"83303b4a136ac1371795f465808367242685a9e3a42b22edb4d977d0696eb45c"},
		// Computed from the rule (Python hmac and openssl agree).
		{"computed userDataStream.subscribe.signature", []Param{{"timestamp", "1747385641636"}, {"apiKey", docAPIKey}},
			"681110a6057ad58657af22f5640fab9dd17418834cdfccdc81be8b0f7b2cde3e"},
		{"computed with recvWindow", []Param{{"timestamp", "1747385641636"}, {"recvWindow", "5000"}, {"apiKey", docAPIKey}},
			"49601ffc5b0122c3c7ee3ea85ef7d6cd76256f5191a57c976418faa32e917653"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Sign(WSPayload(tt.params))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("signature %s, want %s (payload %s)", got, tt.want, WSPayload(tt.params))
			}
		})
	}
	// Published in rest-api.md: REST signs the query string as sent.
	got, _ := s.Sign("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
	if got != "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71" {
		t.Errorf("REST signature %s", got)
	}
}

// Ed25519 signatures are deterministic: computed with the RFC 8032 test-1
// key (openssl pkeyutl and Python agree).
func TestEd25519(t *testing.T) {
	s, err := NewSigner(credentials.NewSecret(rfc8032Test1))
	if err != nil || s.Kind() != KeyEd25519 {
		t.Fatalf("NewSigner: %v", err)
	}
	tests := []struct{ payload, want string }{
		{"apiKey=" + docAPIKey + "&timestamp=1747385641636", "Mg7eipLI1sQ9Xn/lVbtF5RK7zugzztn9Sw3eMI+R+64cqYNTBY/BLdwIyV212EbnutigNFGvPasbCi6XCX7lCg=="},
		{"timestamp=1747385641636", "c8rYxL1Y5Y1Bc5QObinIPtD1b0Qylx2OS0BGbaC+xQYIWOnWb/MiIWQbzyU/PVkI8xOK3GNCCncSIPwK4luBCg=="},
	}
	for _, tt := range tests {
		got, err := s.Sign(tt.payload)
		if err != nil || got != tt.want {
			t.Errorf("Sign(%s) = %s, %v; want %s", tt.payload, got, err, tt.want)
		}
	}
	// RFC 8032's own vector: the empty message.
	sig, _ := s.Sign("")
	raw, _ := base64.StdEncoding.DecodeString(sig)
	if !strings.HasPrefix(hexOf(raw), "e5564300c360ac72") || !strings.HasSuffix(hexOf(raw), "7a100b") {
		t.Errorf("empty-message signature %x, want RFC 8032 test 1", raw)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// RSA PKCS#1 v1.5 signatures are deterministic too; this checks the
// signature verifies with the public key, for PKCS#8 and PKCS#1 keys.
func TestRSA(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	for name, block := range map[string]*pem.Block{
		"pkcs8": {Type: "PRIVATE KEY", Bytes: p8},
		"pkcs1": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := NewSigner(credentials.NewSecret(string(pem.EncodeToMemory(block))))
			if err != nil || s.Kind() != KeyRSA {
				t.Fatalf("NewSigner: %v", err)
			}
			sig, err := s.Sign("apiKey=k&timestamp=1")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(sig)
			sum := sha256.Sum256([]byte("apiKey=k&timestamp=1"))
			if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], raw); err != nil {
				t.Errorf("signature does not verify: %v", err)
			}
		})
	}
	bad := "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
	if _, err := NewSigner(credentials.NewSecret(bad)); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad PEM: %v", err)
	}
}

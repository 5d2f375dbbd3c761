package credentials

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeKey(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	secretFile := writeKey(t, canary+"\n", 0o600)
	openFile := writeKey(t, canary, 0o640)
	worldFile := writeKey(t, canary, 0o604)
	tests := []struct {
		name    string
		creds   string
		need    Need
		env     map[string]string
		wantErr []string // substrings of the error, all required
		isErr   error
		want    Credentials
	}{
		{
			name:  "direct values",
			creds: "okx_main", need: Need{Passphrase: true},
			env:  map[string]string{"OKX_MAIN_API_KEY": "k", "OKX_MAIN_API_SECRET": "s", "OKX_MAIN_API_PASSPHRASE": "p"},
			want: Credentials{Name: "OKX_MAIN", Key: NewSecret("k"), Secret: NewSecret("s"), Passphrase: NewSecret("p")},
		},
		{
			name:  "no passphrase needed",
			creds: "BIN", env: map[string]string{"BIN_API_KEY": "k", "BIN_API_SECRET": "s"},
			want: Credentials{Name: "BIN", Key: NewSecret("k"), Secret: NewSecret("s")},
		},
		{
			name:  "secret from a private file, line break dropped",
			creds: "bin", env: map[string]string{"BIN_API_KEY": "k", "BIN_API_SECRET_FILE": secretFile},
			want: Credentials{Name: "BIN", Key: NewSecret("k"), Secret: NewSecret(canary)},
		},
		{
			name:  "file readable by group refused",
			creds: "bin", env: map[string]string{"BIN_API_KEY": "k", "BIN_API_SECRET_FILE": openFile},
			wantErr: []string{"BIN_API_SECRET_FILE", "0640", "chmod 600"}, isErr: ErrInsecureFile,
		},
		{
			name:  "file readable by others refused",
			creds: "bin", env: map[string]string{"BIN_API_KEY": "k", "BIN_API_SECRET_FILE": worldFile},
			wantErr: []string{"0604"}, isErr: ErrInsecureFile,
		},
		{
			name:  "every missing variable named",
			creds: "cb", need: Need{Passphrase: true}, env: map[string]string{},
			wantErr: []string{"CB_API_KEY is not set", "CB_API_SECRET is not set", "CB_API_PASSPHRASE is not set", "CB_API_KEY_FILE"},
		},
		{
			name:  "both forms set",
			creds: "bin", env: map[string]string{"BIN_API_KEY": "k", "BIN_API_KEY_FILE": secretFile, "BIN_API_SECRET": "s"},
			wantErr: []string{"BIN_API_KEY and BIN_API_KEY_FILE are both set"},
		},
		{
			name:  "missing file",
			creds: "bin", env: map[string]string{"BIN_API_KEY": "k", "BIN_API_SECRET_FILE": "/nonexistent/key"},
			wantErr: []string{"BIN_API_SECRET_FILE", "open key file"},
		},
		{
			name: "bad name", creds: "okx-main", env: map[string]string{},
			wantErr: []string{`credentials "okx-main"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.creds, tt.need, env(tt.env))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one with %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if tt.isErr != nil && !errors.Is(err, tt.isErr) {
					t.Errorf("error %v is not %v", err, tt.isErr)
				}
				if strings.Contains(err.Error(), canary) {
					t.Errorf("error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v (%q %q %q), want %+v", got, got.Key.Reveal(), got.Secret.Reveal(), got.Passphrase.Reveal(), tt.want)
			}
		})
	}
}

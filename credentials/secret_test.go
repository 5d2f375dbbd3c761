package credentials

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const canary = "canary-5ecret-value-7f3a"

// TestSecretNeverPrints formats, encodes and logs a Secret every way the
// project does, and fails if the value shows anywhere.
func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(canary)
	c := Credentials{Name: "OKX_MAIN", Key: s, Secret: s, Passphrase: s}
	holder := struct {
		Creds Credentials
		Ptr   *Secret
	}{c, &s}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-8v"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, c), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, &s))
	}
	outs = append(outs, fmt.Sprint(s, c), fmt.Sprintln(holder))
	js, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(js))
	txt, _ := s.MarshalText()
	outs = append(outs, string(txt))

	var zbuf bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&zbuf), zap.DebugLevel)
	log := zap.New(core)
	log.Debug("creds", zap.Any("creds", c), zap.Any("secret", s), zap.Stringer("s", s), zap.Reflect("holder", holder))
	_ = log.Sync()
	outs = append(outs, zbuf.String())

	var sbuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&sbuf, nil)).Info("creds", "secret", s, "creds", c)
	outs = append(outs, sbuf.String())

	for i, out := range outs {
		if strings.Contains(out, canary) || strings.Contains(out, fmt.Sprintf("%x", canary)) {
			t.Errorf("output %d shows the secret: %s", i, out)
		}
	}
	if !strings.Contains(zbuf.String(), Redacted) {
		t.Errorf("zap output has no %s: %s", Redacted, zbuf.String())
	}
	if s.Reveal() != canary {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
}

func TestSecretEmpty(t *testing.T) {
	var s Secret
	if !s.Empty() || s.String() != "" {
		t.Fatalf("zero Secret: Empty %v, String %q", s.Empty(), s.String())
	}
	if NewSecret("x").Empty() {
		t.Fatal("non-empty Secret reports Empty")
	}
}

package okx

import (
	"strings"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

func TestNewDefaults(t *testing.T) {
	a := newAdapter(t, Config{})
	if a.cfg.PublicURL != "wss://ws.okx.com:8443/ws/v5/public" ||
		a.cfg.BusinessURL != "wss://ws.okx.com:8443/ws/v5/business" ||
		a.rest.Base() != "https://www.okx.com" {
		t.Errorf("defaults: public %q business %q rest %q", a.cfg.PublicURL, a.cfg.BusinessURL, a.rest.Base())
	}
	if a.rest.Now().IsZero() {
		t.Error("default clock is not set")
	}
	if a.Exchange() != market.OKX {
		t.Errorf("Exchange() = %q", a.Exchange())
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// want lists fragments of the error; none means no error.
		want []string
	}{
		{name: "overridden endpoints", cfg: Config{PublicURL: "ws://127.0.0.1:8080/ws/v5/public",
			BusinessURL: "ws://127.0.0.1:8080/ws/v5/business", RESTURL: "http://127.0.0.1:8080/"}},
		{name: "REST base with a proxy prefix", cfg: Config{RESTURL: "https://proxy.example/okx"}},
		{name: "public URL with http scheme", cfg: Config{PublicURL: "https://ws.okx.com:8443/ws/v5/public"},
			want: []string{"PublicURL", "want scheme ws or wss"}},
		{name: "business URL without host", cfg: Config{BusinessURL: "wss:///ws/v5/business"},
			want: []string{"BusinessURL", "want a host"}},
		{name: "public URL with credentials", cfg: Config{PublicURL: "wss://u:p@ws.okx.com/ws/v5/public"},
			want: []string{"PublicURL", "credentials"}},
		{name: "REST URL with ws scheme", cfg: Config{RESTURL: "wss://www.okx.com"},
			want: []string{"RESTURL", "want scheme http or https"}},
		{name: "REST URL with the API path", cfg: Config{RESTURL: "https://www.okx.com/api/v5"},
			want: []string{"RESTURL", "without /api/v5"}},
		{name: "REST URL with a query", cfg: Config{RESTURL: "https://www.okx.com?x=1"},
			want: []string{"RESTURL", "drop the query"}},
		{name: "not a URL", cfg: Config{RESTURL: "http://%zz"}, want: []string{"RESTURL", "not a URL"}},
		{name: "every fault is reported", cfg: Config{PublicURL: "http://a", BusinessURL: "http://b", RESTURL: "ws://c"},
			want: []string{"PublicURL", "BusinessURL", "RESTURL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	ka := newAdapter(t, Config{}).KeepAlive()
	want := collector.KeepAlive{PingText: "ping", PingAfter: 15 * time.Second, ReadTimeout: 30 * time.Second,
		SubscribeWithin: 30 * time.Second}
	if ka != want {
		t.Fatalf("KeepAlive() = %+v, want %+v", ka, want)
	}
	// The loop checks every PingAfter/4: the latest ping must leave the
	// pong time before the read deadline, and before OKX's 30 s cut.
	if latest := ka.PingAfter + ka.PingAfter/4; latest >= ka.ReadTimeout-5*time.Second {
		t.Errorf("a ping may leave after %s of silence, too close to the %s read timeout", latest, ka.ReadTimeout)
	}
}

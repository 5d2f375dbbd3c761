package kraken

import (
	"strings"
	"testing"
	"time"

	"marketetl/collector"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		restBase string
		err      []string
	}{
		{name: "defaults", cfg: Config{}, restBase: DefaultRESTURL},
		{name: "local endpoints", cfg: Config{WSURL: "ws://127.0.0.1:8080/kraken/v2", RESTURL: "http://127.0.0.1:8081/kraken/"}, restBase: "http://127.0.0.1:8081/kraken"},
		{name: "WS URL with http scheme", cfg: Config{WSURL: "https://ws.kraken.com/v2"}, err: []string{"WSURL", "want scheme ws or wss"}},
		{name: "REST URL with ws scheme", cfg: Config{RESTURL: "wss://api.kraken.com"}, err: []string{"RESTURL", "want scheme http or https"}},
		{name: "REST URL with /0", cfg: Config{RESTURL: "https://api.kraken.com/0"}, err: []string{"RESTURL", "/0"}},
		{name: "credentials", cfg: Config{RESTURL: "https://user:secret@api.kraken.com"}, err: []string{"RESTURL", "credentials"}},
		{name: "both wrong", cfg: Config{WSURL: "http://x", RESTURL: "ftp://y"}, err: []string{"WSURL", "RESTURL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.cfg)
			if len(tc.err) > 0 {
				if err == nil {
					t.Fatal("New succeeded, want an error")
				}
				for _, want := range tc.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.rest.Base() != tc.restBase {
				t.Errorf("REST base = %q, want %q", a.rest.Base(), tc.restBase)
			}
			if tc.cfg.WSURL == "" && a.cfg.WSURL != DefaultWSURL {
				t.Errorf("WSURL = %q, want the default", a.cfg.WSURL)
			}
		})
	}
}

func TestKeepAliveAndRules(t *testing.T) {
	a := newTestAdapter(t)
	want := collector.KeepAlive{PingText: `{"method":"ping"}`, PingAfter: 10 * time.Second, ReadTimeout: 30 * time.Second, MaxSendPerSecond: 5}
	if got := a.KeepAlive(); got != want {
		t.Errorf("KeepAlive = %+v, want %+v", got, want)
	}
	if !a.SequentialTradeIDs() || !a.CandlesCloseOnNext() {
		t.Error("kraken declares sequential trade ids and candles closed by the next one")
	}
}

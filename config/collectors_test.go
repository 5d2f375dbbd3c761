package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"marketetl/market"
)

func TestParseCollectors(t *testing.T) {
	good := `collectors:
  - name: okx-main
    exchange: OKX
    symbols: [btc-usdt]
    data_types: [trade, candle]
    timeframes: [1m]
    health_check_interval: 45
    max_silence_duration: 5m
`
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings; empty means success
	}{
		{name: "good", yaml: good},
		{name: "unknown key", yaml: "collectors:\n  - name: a\n    exchange: okx\n    symbolz: [BTC-USDT]\n", wantErr: []string{"c.yaml", "line 4", "symbolz"}},
		{name: "unknown exchange", yaml: "collectors:\n  - name: a\n    exchange: bitstamp\n    symbols: [BTC-USDT]\n    data_types: [trade]\n", wantErr: []string{"c.yaml:2", `exchange "bitstamp"`}},
		{name: "malformed symbol", yaml: "collectors:\n  - name: a\n    exchange: okx\n    symbols: [BTCUSDT]\n    data_types: [trade]\n", wantErr: []string{"c.yaml:2", "BASE-QUOTE"}},
		{name: "unknown timeframe", yaml: "collectors:\n  - name: a\n    exchange: okx\n    symbols: [BTC-USDT]\n    data_types: [candle]\n    timeframes: [7m]\n", wantErr: []string{"c.yaml:2", `"7m"`}},
		{name: "candle without timeframe", yaml: "collectors:\n  - name: a\n    exchange: okx\n    symbols: [BTC-USDT]\n    data_types: [candle]\n", wantErr: []string{"timeframes: data_types has candle"}},
		{name: "bad duration", yaml: "collectors:\n  - name: a\n    exchange: okx\n    symbols: [BTC-USDT]\n    data_types: [trade]\n    health_check_interval: soon\n", wantErr: []string{"line 6", "soon"}},
		{name: "duplicate name", yaml: "collectors:\n  - name: a\n    exchange: okx\n    symbols: [BTC-USDT]\n    data_types: [trade]\n  - name: a\n    exchange: okx\n    symbols: [ETH-USDT]\n    data_types: [trade]\n", wantErr: []string{"c.yaml:6", "already used on line 2"}},
		{name: "empty", yaml: "", wantErr: []string{"empty file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := ParseCollectors("c.yaml", []byte(tc.yaml))
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got specs %+v", tc.wantErr, specs)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseCollectorsNormalises(t *testing.T) {
	specs, err := ParseCollectors("c.yaml", []byte("collectors:\n  - name: a\n    exchange: OKX\n    symbols: [btc-usdt]\n    data_types: [trade]\n    health_check_interval: 45\n    max_silence_duration: 5m\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := specs[0]
	if s.Exchange != market.OKX || s.Symbols[0] != "BTC-USDT" {
		t.Errorf("not normalised: %+v", s)
	}
	if s.HealthCheckInterval.Std() != 45*time.Second || s.MaxSilence.Std() != 5*time.Minute {
		t.Errorf("durations: %v %v", s.HealthCheckInterval, s.MaxSilence)
	}
	if !s.IsEnabled() || !s.RestartsAutomatically() {
		t.Errorf("defaults: enabled %v auto_restart %v", s.IsEnabled(), s.RestartsAutomatically())
	}
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func TestSampleCollectorsFileParses(t *testing.T) {
	specs, err := LoadCollectors(filepath.Join(repoRoot(t), "collectors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[market.Exchange]bool{}
	for _, s := range specs {
		seen[s.Exchange] = true
	}
	for _, e := range market.Exchanges() {
		if !seen[e] {
			t.Errorf("sample file has no %s collector", e)
		}
	}
}

func TestLoadCollectorsMissingFile(t *testing.T) {
	_, err := LoadCollectors(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "ETL_CONFIG") || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("want a not-exist error naming ETL_CONFIG, got %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

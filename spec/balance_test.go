package spec

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"marketetl/market"
)

// TestBalanceCollector reads a balance collector from YAML: one stream,
// its account's, defaulting to main.
func TestBalanceCollector(t *testing.T) {
	var c Collector
	if err := yaml.Unmarshal([]byte("name: okx-bal\nexchange: okx\ndata_types: [balance]\ncredentials: okx_main\npublish: true\nreconcile_interval: 2m\n"), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	want := market.Stream{Exchange: market.OKX, Type: market.TypeBalance, Symbol: "main"}
	if got := c.Streams(); len(got) != 1 || got[0] != want {
		t.Errorf("streams %v, want [%v]", got, want)
	}
	if !c.Publish || c.ReconcileInterval.String() != "2m0s" {
		t.Errorf("publish %v, reconcile_interval %s", c.Publish, c.ReconcileInterval)
	}
	c.Account = "spot"
	if got := c.Streams(); got[0].Symbol != "spot" {
		t.Errorf("account spot: stream %v", got[0])
	}
}

// TestBalanceCollectorErrors: each mistake is reported naming its key.
func TestBalanceCollectorErrors(t *testing.T) {
	base := func() Collector {
		return Collector{Name: "bal", Exchange: market.Binance, DataTypes: []market.DataType{market.TypeBalance}, Credentials: "BINANCE_MAIN"}
	}
	cases := []struct {
		name string
		edit func(*Collector)
		key  string
	}{
		{"no credentials", func(c *Collector) { c.Credentials = "" }, "credentials: required"},
		{"bad credentials name", func(c *Collector) { c.Credentials = "my-key" }, `credentials "my-key"`},
		{"symbols", func(c *Collector) { c.Symbols = []market.Symbol{"BTC-USDT"} }, "symbols: a balance collector has none"},
		{"with trades", func(c *Collector) { c.DataTypes = append(c.DataTypes, market.TypeTrade) }, "data_types: balance is collected alone"},
		{"bad account", func(c *Collector) { c.Account = "my account" }, `account "my account"`},
		{"negative interval", func(c *Collector) { c.ReconcileInterval = -1 }, "reconcile_interval"},
		{"account on a market collector", func(c *Collector) {
			c.DataTypes = []market.DataType{market.TypeTrade}
			c.Symbols = []market.Symbol{"BTC-USDT"}
		}, "data_types has no balance"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("validate: %v, want an error naming %q", err, tc.key)
			}
		})
	}
	ok := base()
	if err := ok.Validate(); err != nil {
		t.Errorf("valid collector: %v", err)
	}
}

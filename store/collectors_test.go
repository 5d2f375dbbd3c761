package store

import (
	"reflect"
	"testing"
	"time"

	"marketetl/market"
	"marketetl/spec"
)

func TestRegistry(t *testing.T) {
	_, pool := migratedDB(t)
	reg := NewRegistry(pool)
	ctx := t.Context()
	on, off := true, false
	full := spec.Collector{
		Name:                "okx-main",
		Exchange:            market.OKX,
		Symbols:             []market.Symbol{"BTC-USDT", "ETH-USDT"},
		DataTypes:           []market.DataType{market.TypeTicker, market.TypeCandle},
		Timeframes:          []market.Timeframe{"1m", "1h"},
		AutoRestart:         &off,
		HealthCheckInterval: spec.Duration(15 * time.Second),
		MaxSilence:          spec.Duration(2 * time.Minute),
		MaxSilenceByType:    map[market.DataType]spec.Duration{market.TypeTicker: spec.Duration(10 * time.Minute)},
		Enabled:             &off,
	}
	minimal := spec.Collector{Name: "cb", Exchange: market.Coinbase, Symbols: []market.Symbol{"BTC-USD"}, DataTypes: []market.DataType{market.TypeTrade}}
	withEnabled := func(s spec.Collector, e *bool) spec.Collector { s.Enabled = e; return s }

	steps := []struct {
		name string
		do   func() error
		want []spec.Collector
	}{
		{"empty", func() error { return nil }, nil},
		{"put every field", func() error { return reg.PutCollector(ctx, full) }, []spec.Collector{full}},
		{"nil enabled is stored as enabled", func() error { return reg.PutCollector(ctx, minimal) },
			[]spec.Collector{withEnabled(minimal, &on), full}},
		{"replace", func() error { return reg.PutCollector(ctx, withEnabled(full, &on)) },
			[]spec.Collector{withEnabled(minimal, &on), withEnabled(full, &on)}},
		{"delete", func() error { return reg.DeleteCollector(ctx, "cb") }, []spec.Collector{withEnabled(full, &on)}},
		{"delete a missing one", func() error { return reg.DeleteCollector(ctx, "cb") }, []spec.Collector{withEnabled(full, &on)}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := reg.Collectors(ctx)
		if err != nil {
			t.Fatalf("%s: Collectors: %v", st.name, err)
		}
		if !reflect.DeepEqual(got, st.want) && !(len(got) == 0 && len(st.want) == 0) {
			t.Errorf("%s: Collectors() =\n%+v\nwant\n%+v", st.name, got, st.want)
		}
	}
	// The enabled state has its own column; the spec column holds the rest.
	if n := count(t, pool, `SELECT count(*) FROM collectors WHERE name = 'okx-main' AND enabled AND NOT spec ? 'enabled' AND spec->>'exchange' = 'okx'`); n != 1 {
		t.Errorf("stored row: %d matching, want 1", n)
	}
}

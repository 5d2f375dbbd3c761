package store

import (
	"reflect"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

func TestRegistry(t *testing.T) {
	_, pool := migratedDB(t)
	reg := NewRegistry(pool)
	ctx := t.Context()
	on, off := true, false
	full := collector.Spec{
		Name:                "okx-main",
		Exchange:            market.OKX,
		Symbols:             []market.Symbol{"BTC-USDT", "ETH-USDT"},
		DataTypes:           []market.DataType{market.TypeTicker, market.TypeCandle},
		Timeframes:          []market.Timeframe{"1m", "1h"},
		AutoRestart:         &off,
		HealthCheckInterval: collector.Duration(15 * time.Second),
		MaxSilence:          collector.Duration(2 * time.Minute),
		MaxSilenceByType:    map[market.DataType]collector.Duration{market.TypeTicker: collector.Duration(10 * time.Minute)},
		Enabled:             &off,
	}
	minimal := collector.Spec{Name: "cb", Exchange: market.Coinbase, Symbols: []market.Symbol{"BTC-USD"}, DataTypes: []market.DataType{market.TypeTrade}}
	withEnabled := func(s collector.Spec, e *bool) collector.Spec { s.Enabled = e; return s }

	steps := []struct {
		name string
		do   func() error
		want []collector.Spec
	}{
		{"empty", func() error { return nil }, nil},
		{"put every field", func() error { return reg.PutCollector(ctx, full) }, []collector.Spec{full}},
		{"nil enabled is stored as enabled", func() error { return reg.PutCollector(ctx, minimal) },
			[]collector.Spec{withEnabled(minimal, &on), full}},
		{"replace", func() error { return reg.PutCollector(ctx, withEnabled(full, &on)) },
			[]collector.Spec{withEnabled(minimal, &on), withEnabled(full, &on)}},
		{"delete", func() error { return reg.DeleteCollector(ctx, "cb") }, []collector.Spec{withEnabled(full, &on)}},
		{"delete a missing one", func() error { return reg.DeleteCollector(ctx, "cb") }, []collector.Spec{withEnabled(full, &on)}},
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

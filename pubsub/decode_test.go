package pubsub

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"marketetl/market"
)

func TestDecodeRejectsMalformedPayloads(t *testing.T) {
	const trade = `"exchange":"okx","symbol":"BTC-USDT","ts":"2026-11-24T09:00:00Z","received_at":"2026-11-24T09:00:00Z","trade_id":"1","price":"1","size":"1","side":"buy"`
	tests := []struct {
		name    string
		payload string
		// wantErr is a fragment of the error; wantIs a sentinel it wraps.
		wantErr string
		wantIs  error
	}{
		{name: "not JSON", payload: `{"v":1,`, wantErr: "decode payload"},
		{name: "no version", payload: `{"type":"trade",` + trade + `}`, wantErr: `no schema version`},
		{name: "a newer version", payload: `{"v":2,"type":"trade",` + trade + `}`, wantIs: ErrUnsupportedVersion},
		{name: "no type", payload: `{"v":1,` + trade + `}`, wantErr: `no "type"`},
		{name: "unknown type", payload: `{"v":1,"type":"quote",` + trade + `}`, wantErr: `unknown type "quote"`},
		{name: "price as a JSON number", payload: `{"v":1,"type":"trade",` + strings.Replace(trade, `"price":"1"`, `"price":1`, 1) + `}`, wantErr: "decode payload"},
		{name: "price not a decimal", payload: `{"v":1,"type":"trade",` + strings.Replace(trade, `"price":"1"`, `"price":"1,5"`, 1) + `}`, wantErr: `field "price"`},
		{name: "absurd exponent", payload: `{"v":1,"type":"trade",` + strings.Replace(trade, `"price":"1"`, `"price":"1e2000"`, 1) + `}`, wantErr: `exponent out of range`},
		{name: "missing size", payload: `{"v":1,"type":"trade",` + strings.Replace(trade, `"size":"1",`, ``, 1) + `}`, wantErr: `field "size": missing`},
		{name: "bad time", payload: `{"v":1,"type":"trade",` + strings.Replace(trade, `"ts":"2026-11-24T09:00:00Z"`, `"ts":"24/11/2026"`, 1) + `}`, wantErr: `field "ts"`},
		{name: "missing exchange", payload: `{"v":1,"type":"trade",` + strings.Replace(trade, `"exchange":"okx",`, ``, 1) + `}`, wantErr: `field "exchange": missing`},
		{name: "candle without closed", payload: `{"v":1,"type":"candle","exchange":"okx","symbol":"BTC-USDT","timeframe":"1m","ts":"2026-11-24T09:00:00Z","received_at":"2026-11-24T09:00:00Z","open":"1","high":"1","low":"1","close":"1","volume":"1"}`, wantErr: `field "closed": missing`},
		{name: "book level not a decimal", payload: `{"v":1,"type":"book","exchange":"okx","symbol":"BTC-USDT","ts":"2026-11-24T09:00:00Z","received_at":"2026-11-24T09:00:00Z","bids":[["1","x"]],"asks":[]}`, wantErr: `field "bids"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Decode([]byte(tt.payload))
			if err == nil {
				t.Fatalf("decoded %+v, want an error", rec)
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to say %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want one wrapping %v", err, tt.wantIs)
			}
		})
	}
}

func TestDecodeAcceptsNullAndUnknownFields(t *testing.T) {
	payload := `{"v":1,"type":"ticker","exchange":"okx","symbol":"BTC-USDT","ts":"2026-11-24T09:00:00.5+01:00",` +
		`"received_at":"2026-11-24T08:00:00.6Z","last":"42219.90","bid":null,"added_later":{"x":[1]}}`
	rec, err := Decode([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	tk, ok := rec.(*market.Ticker)
	if !ok {
		t.Fatalf("decoded %T, want a ticker", rec)
	}
	if !tk.Last.Valid || tk.Last.Decimal.String() != "42219.9" || tk.Last.Decimal.Exponent() != -2 || tk.Bid.Valid {
		t.Errorf("last %v (exponent %d), bid %v: want 42219.90 kept to two places and bid absent", tk.Last, tk.Last.Decimal.Exponent(), tk.Bid)
	}
	if tk.Time.Location().String() != "UTC" || tk.Time.Hour() != 8 || tk.Time.Nanosecond() != 500_000_000 {
		t.Errorf("time %v: want 08:00:00.5 UTC", tk.Time)
	}
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// is encoded into a payload that decodes to the same record.
func FuzzDecode(f *testing.F) {
	for _, file := range []string{"trade.json", "ticker.json", "candle.json", "book.json", "balance.json"} {
		f.Add(example(f, file))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		rec, err := Decode(payload)
		if err != nil {
			return
		}
		once := Encode(nil, rec)
		back, err := Decode(once)
		if err != nil {
			t.Fatalf("decode %s (encoded from %s): %v", once, payload, err)
		}
		if twice := Encode(nil, back); !bytes.Equal(twice, once) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}

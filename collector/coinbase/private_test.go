package coinbase

import (
	"encoding/json"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/credentials"
	"marketetl/market"
)

const testSecret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="

func testPrivate(t *testing.T, now time.Time) *Private {
	t.Helper()
	p, err := NewPrivate(PrivateConfig{
		Credentials: credentials.Credentials{Name: "T", Key: credentials.NewSecret("key-1"), Secret: credentials.NewSecret(testSecret), Passphrase: credentials.NewSecret("pass-1")},
		Account:     "spot", Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrivateSubscribeFrame(t *testing.T) {
	p := testPrivate(t, time.Unix(1700000000, 123e6))
	if _, err := p.Subscribe(collector.ConnPlan{}, nil, 1); err == nil {
		t.Fatal("subscribed without account ids")
	}
	p.accounts = []string{"d50ec984-77a8-460a-b958-66f114b0de9b"}
	frames, err := p.Subscribe(collector.ConnPlan{}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(frames[0], &f); err != nil {
		t.Fatal(err)
	}
	// The signature of 1700000000.123GET/users/self/verify (PROTOCOLS.md
	// §7.6, computed by the documented rule); the timestamp is a string.
	want := map[string]string{
		"type": `"subscribe"`, "key": `"key-1"`, "passphrase": `"pass-1"`, "timestamp": `"1700000000.123"`,
		"signature": `"maXKiSsLPYaOmwbHMYPOnAk9dnfBM1tLuI8FmCJJfqM="`,
		"channels":  `[{"account_ids":["d50ec984-77a8-460a-b958-66f114b0de9b"],"name":"balance"},{"name":"heartbeat","product_ids":["BTC-USD"]}]`,
	}
	for k, v := range want {
		if string(f[k]) != v {
			t.Errorf("%s = %s, want %s", k, f[k], v)
		}
	}
}

func TestPrivateDecode(t *testing.T) {
	p := testPrivate(t, time.Now())
	received := time.Date(2023, 10, 10, 20, 42, 30, 0, time.UTC)
	tests := []struct {
		name       string
		frame      string
		free, lock string
		ts         time.Time
	}{
		{"documented message, strings", `{"type":"balance","account_id":"d50ec984-77a8-460a-b958-66f114b0de9b","currency":"USD","holds":"1000.23","available":"102030.99","updated":"2023-10-10T20:42:27.265Z","timestamp":"2023-10-10T20:42:29.265Z"}`,
			"102030.99", "1000.23", time.Date(2023, 10, 10, 20, 42, 27, 265e6, time.UTC)},
		{"observed first message, numbers and zero time", `{"type":"balance","account_id":"x","currency":"BTC","holds":0.0,"available":0.0,"updated":"0001-01-01T00:00:00Z","timestamp":"2025-08-18T10:00:00.5Z"}`,
			"0", "0", time.Date(2025, 8, 18, 10, 0, 0, 5e8, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev collector.Event
			if err := p.Decode([]byte(tt.frame), received, &ev); err != nil || len(ev.Records) != 1 {
				t.Fatalf("err %v, %d records", err, len(ev.Records))
			}
			b := ev.Records[0].(*market.Balance)
			if b.Free.String() != tt.free || b.Locked.String() != tt.lock || !b.Time.Equal(tt.ts) || b.Account != "spot" {
				t.Errorf("balance %+v", b)
			}
		})
	}
	var ev collector.Event
	if err := p.Decode([]byte(`{"type":"error","message":"Sorry, you could not be authenticated: Bad Request","reason":"invalid signature"}`), received, &ev); err != nil || ev.Err == nil || !ev.Err.Permanent || ev.Err.UnknownCode {
		t.Errorf("observed auth error: %v %+v", err, ev.Err)
	}
	ev.Reset()
	if err := p.Decode([]byte(`{"type":"error","message":"Sorry, you could not be authenticated: Bad Request","reason":"request timestamp expired"}`), received, &ev); err != nil || ev.Err == nil || ev.Err.Permanent || ev.Err.UnknownCode {
		t.Errorf("observed expired timestamp: %v %+v", err, ev.Err)
	}
	ev.Reset()
	if err := p.Decode([]byte(`{"type":"error","message":"Failed to subscribe","reason":"a reason this client does not know yet"}`), received, &ev); err != nil || ev.Err == nil || ev.Err.Permanent || !ev.Err.UnknownCode {
		t.Errorf("unknown reason: %v %+v, want an unknown code", err, ev.Err)
	}
	ev.Reset()
	if err := p.Decode([]byte(`{"type":"subscriptions","channels":[{"name":"balance"}]}`), received, &ev); err != nil || len(ev.Acked) != 1 {
		t.Errorf("observed ack: %v %+v", err, ev.Acked)
	}
}

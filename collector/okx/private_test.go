package okx

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/credentials"
	"marketetl/market"
)

func testPrivate(t *testing.T, now time.Time) *Private {
	t.Helper()
	p, err := NewPrivate(PrivateConfig{
		Credentials: credentials.Credentials{Name: "T", Key: credentials.NewSecret("key-1"),
			Secret: credentials.NewSecret("22582BD0CFF14C41EDBF1AB98506286D"), Passphrase: credentials.NewSecret("pass-1")},
		Account: "spot", Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrivateLogin(t *testing.T) {
	p := testPrivate(t, time.Unix(1538054050, 900e6))
	frames, err := p.Login(collector.ConnPlan{}, 1)
	if err != nil || len(frames) != 1 {
		t.Fatalf("Login: %v, %d frames", err, len(frames))
	}
	var f struct {
		Op   string              `json:"op"`
		Args []map[string]string `json:"args"`
	}
	if err := json.Unmarshal(frames[0], &f); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"apiKey": "key-1", "passphrase": "pass-1", "timestamp": "1538054050", "sign": "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="}
	if f.Op != "login" || len(f.Args) != 1 {
		t.Fatalf("frame %s", frames[0])
	}
	for k, v := range want {
		if f.Args[0][k] != v {
			t.Errorf("%s = %q, want %q", k, f.Args[0][k], v)
		}
	}
}

func TestPrivateDecode(t *testing.T) {
	p := testPrivate(t, time.Now())
	golden, err := os.ReadFile("testdata/private_account.json")
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2024, 1, 18, 7, 50, 24, 0, time.UTC)
	stream := market.Stream{Exchange: market.OKX, Type: market.TypeBalance, Symbol: "spot"}
	tests := []struct {
		name  string
		frame string
		check func(t *testing.T, ev *collector.Event, err error)
	}{
		{"documented account push", string(golden), func(t *testing.T, ev *collector.Event, err error) {
			if err != nil || len(ev.Records) != 1 {
				t.Fatalf("err %v, %d records", err, len(ev.Records))
			}
			b := ev.Records[0].(*market.Balance)
			if b.Symbol != "USDT" || b.Account != "spot" || b.Free.String() != "4734.371190691436" || b.Locked.String() != "158.57998" ||
				!b.Time.Equal(time.UnixMilli(1705564213903)) || !b.Received.Equal(received) {
				t.Errorf("balance %+v", b)
			}
			if !b.Free.Add(b.Locked).Equal(decimal.RequireFromString("4892.951170691436")) {
				t.Errorf("free+locked = %s, the document's eq is 4892.951170691435 (+1e-15 rounding)", b.Free.Add(b.Locked))
			}
		}},
		{"login ok", `{"event":"login","code":"0","msg":"","connId":"a4d3ae55"}`, func(t *testing.T, ev *collector.Event, err error) {
			if err != nil || !ev.LoggedIn {
				t.Errorf("err %v, LoggedIn %v", err, ev.LoggedIn)
			}
		}},
		{"documented login failure", `{"event":"error","code":"60009","msg":"Login failed.","connId":"a4d3ae55"}`, func(t *testing.T, ev *collector.Event, err error) {
			if err != nil || ev.Err == nil || ev.Err.Code != "60009" || !ev.Err.Permanent || ev.Err.UnknownCode || ev.LoggedIn {
				t.Errorf("err %v, ev.Err %+v", err, ev.Err)
			}
		}},
		{"observed expired timestamp is not permanent", `{"event":"error","msg":"Timestamp request expired","code":"60006"}`, func(t *testing.T, ev *collector.Event, err error) {
			if err != nil || ev.Err == nil || ev.Err.Permanent {
				t.Errorf("err %v, ev.Err %+v", err, ev.Err)
			}
		}},
		{"undocumented login code", `{"event":"login","code":"60098","msg":"Something new.","connId":"a4d3ae55"}`, func(t *testing.T, ev *collector.Event, err error) {
			if err != nil || ev.Err == nil || !ev.Err.UnknownCode || ev.Err.Permanent || ev.LoggedIn {
				t.Errorf("err %v, ev.Err %+v: want an unknown code", err, ev.Err)
			}
		}},
		{"subscribe ack", `{"id":"1512","event":"subscribe","arg":{"channel":"account"},"connId":"a4d3ae55"}`, func(t *testing.T, ev *collector.Event, err error) {
			if err != nil || len(ev.Acked) != 1 || ev.Acked[0] != stream {
				t.Errorf("err %v, acked %v", err, ev.Acked)
			}
		}},
		{"pong", `pong`, func(t *testing.T, ev *collector.Event, err error) {
			if err != nil || !ev.Pong {
				t.Errorf("err %v, pong %v", err, ev.Pong)
			}
		}},
		{"connection count", `{"event":"channel-conn-count","channel":"account","connCount":"2","connId":"abcd1234"}`, func(t *testing.T, ev *collector.Event, err error) {
			if err != nil || !ev.Ignored {
				t.Errorf("err %v, ignored %v", err, ev.Ignored)
			}
		}},
		{"bad number", `{"arg":{"channel":"account"},"eventType":"event_update","data":[{"details":[{"ccy":"BTC","availBal":"1e5","frozenBal":"0","uTime":"1"}]}]}`, func(t *testing.T, ev *collector.Event, err error) {
			if err == nil || !strings.Contains(err.Error(), "availBal") {
				t.Errorf("err %v", err)
			}
		}},
		{"garbage", `{"arg":`, func(t *testing.T, ev *collector.Event, err error) {
			if err == nil {
				t.Error("no error")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev collector.Event
			err := p.Decode([]byte(tt.frame), received, &ev)
			tt.check(t, &ev, err)
		})
	}
}

package binance

import (
	"strings"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/credentials"
	"marketetl/market"
)

func testPrivate(t *testing.T, now time.Time) *Private {
	t.Helper()
	p, err := NewPrivate(PrivateConfig{
		Credentials: credentials.Credentials{Name: "T", Key: credentials.NewSecret(docAPIKey), Secret: credentials.NewSecret(docSecret)},
		Account:     "spot", Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrivateSubscribeFrame(t *testing.T) {
	p := testPrivate(t, time.UnixMilli(1747385641636))
	frames, err := p.Subscribe(collector.ConnPlan{}, nil, 7)
	if err != nil || len(frames) != 1 {
		t.Fatalf("Subscribe: %v", err)
	}
	// The signature of apiKey=…&recvWindow=10000&timestamp=1747385641636,
	// by the documented rule (checked with openssl dgst -sha256 -hmac).
	want := `{"id":"sub-7","method":"userDataStream.subscribe.signature","params":{"apiKey":"` + docAPIKey +
		`","recvWindow":10000,"timestamp":1747385641636,"signature":"`
	if got := string(frames[0]); !strings.HasPrefix(got, want) {
		t.Fatalf("frame\n got %s\nwant prefix %s", got, want)
	}
	sig, _ := p.signer.Sign("apiKey=" + docAPIKey + "&recvWindow=10000&timestamp=1747385641636")
	if !strings.HasSuffix(string(frames[0]), `"signature":"`+sig+`"}}`) {
		t.Errorf("frame does not carry the signature of the sorted parameters: %s", frames[0])
	}
}

func TestPrivateDecode(t *testing.T) {
	p := testPrivate(t, time.Now())
	received := time.Date(2019, 7, 25, 6, 16, 12, 0, time.UTC)
	stream := market.Stream{Exchange: market.Binance, Type: market.TypeBalance, Symbol: "spot"}
	tests := []struct {
		name  string
		frame string
		check func(t *testing.T, ev *collector.Event, err error)
	}{
		{"documented outboundAccountPosition", `{"subscriptionId":0,"event":{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"}]}}`,
			func(t *testing.T, ev *collector.Event, err error) {
				if err != nil || len(ev.Records) != 1 {
					t.Fatalf("err %v, %d records", err, len(ev.Records))
				}
				b := ev.Records[0].(*market.Balance)
				if b.Symbol != "ETH" || b.Account != "spot" || b.Free.String() != "10000" || b.Free.Exponent() != -6 || !b.Locked.IsZero() ||
					!b.Time.Equal(time.UnixMilli(1564034571073)) {
					t.Errorf("balance %+v", b)
				}
			}},
		{"documented subscribe response", `{"id":"d3df8a22-98ea-4fe0-9f4e-0fcea5d418b7","status":200,"result":{"subscriptionId":0}}`,
			func(t *testing.T, ev *collector.Event, err error) {
				if err != nil || len(ev.Acked) != 1 || ev.Acked[0] != stream {
					t.Errorf("err %v, acked %v", err, ev.Acked)
				}
			}},
		{"documented balanceUpdate is a delta", `{"subscriptionId":0,"event":{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"100.00000000","T":1573200697068}}`,
			func(t *testing.T, ev *collector.Event, err error) {
				if err != nil || !ev.Ignored || len(ev.Records) != 0 {
					t.Errorf("err %v, %+v", err, ev)
				}
			}},
		{"documented eventStreamTerminated", `{"subscriptionId":0,"event":{"e":"eventStreamTerminated","E":1728973001334}}`,
			func(t *testing.T, ev *collector.Event, err error) {
				if err != nil || !ev.Reconnect {
					t.Errorf("err %v, reconnect %v", err, ev.Reconnect)
				}
			}},
		{"invalid signature is permanent", `{"id":"sub-1","status":400,"error":{"code":-1022,"msg":"Signature for this request is not valid."}}`,
			func(t *testing.T, ev *collector.Event, err error) {
				if err != nil || ev.Err == nil || ev.Err.Code != "-1022" || !ev.Err.Permanent {
					t.Errorf("err %v, %+v", err, ev.Err)
				}
			}},
		{"refused timestamp is not", `{"id":"sub-1","status":400,"error":{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}}`,
			func(t *testing.T, ev *collector.Event, err error) {
				if err != nil || ev.Err == nil || ev.Err.Permanent {
					t.Errorf("err %v, %+v", err, ev.Err)
				}
			}},
		{"unknown event", `{"subscriptionId":0,"event":{"e":"somethingNew","E":1}}`,
			func(t *testing.T, ev *collector.Event, err error) {
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

package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
	"marketetl/validate"
)

type fakeStore struct {
	written  []market.Record
	rejected []market.Reject
	err      error
}

func (f *fakeStore) Write(_ context.Context, r market.Record) error {
	if f.err != nil {
		return f.err
	}
	f.written = append(f.written, r)
	return nil
}

func (f *fakeStore) Reject(_ context.Context, r market.Reject) error {
	f.rejected = append(f.rejected, r)
	return nil
}

type fakePublisher struct{ published []market.Record }

func (f *fakePublisher) Publish(r market.Record) { f.published = append(f.published, r) }

func trade(price string) *market.Trade {
	now := time.Now().UTC()
	return &market.Trade{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Time: now.Add(-time.Second), Received: now},
		TradeID: "1", Price: decimal.RequireFromString(price), Size: decimal.RequireFromString("1"), Side: market.Buy}
}

func TestAcceptValidatesThenStoresThenPublishes(t *testing.T) {
	v, err := validate.New(validate.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, pub := &fakeStore{}, &fakePublisher{}
	p, err := New(Config{Checker: v, Store: st, Publisher: pub, Raw: func(market.Record) []byte { return []byte("raw") }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := p.Accept(ctx, trade("10")); err != nil {
		t.Fatal(err)
	}
	if err := p.Accept(ctx, trade("-1")); err != nil {
		t.Fatal(err)
	}
	if len(st.written) != 1 || len(pub.published) != 1 {
		t.Fatalf("written %d published %d, want 1 and 1", len(st.written), len(pub.published))
	}
	if len(st.rejected) != 1 {
		t.Fatalf("rejected %d, want 1", len(st.rejected))
	}
	r := st.rejected[0]
	if r.Reason != string(validate.NonPositivePrice) || r.Field != "price" || r.Type != market.TypeTrade || r.Symbol != "BTC-USDT" || string(r.Raw) != "raw" {
		t.Errorf("reject %+v", r)
	}
	c := p.Counts()
	if c.Accepted != 1 || c.Rejected[string(validate.NonPositivePrice)] != 1 {
		t.Errorf("counts %+v", c)
	}
}

func TestStoreFailureIsNotPublished(t *testing.T) {
	v, _ := validate.New(validate.Config{}, nil)
	st, pub := &fakeStore{err: context.Canceled}, &fakePublisher{}
	p, _ := New(Config{Checker: v, Store: st, Publisher: pub})
	if err := p.Accept(t.Context(), trade("10")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if len(pub.published) != 0 || p.Counts().Accepted != 0 {
		t.Error("a record the store did not take was published or counted")
	}
}

func TestNewRequiresCheckerAndStore(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
}

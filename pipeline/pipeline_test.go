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
	if err := p.Accept(ctx, trade("-1")); !errors.Is(err, market.ErrRejected) {
		t.Fatalf("a refused record: Accept returned %v, want market.ErrRejected (the collector records its gap)", err)
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

type fakeSubscribers struct{ got []market.Record }

func (f *fakeSubscribers) Deliver(_ context.Context, r market.Record) error {
	f.got = append(f.got, r)
	return nil
}

// Subscribers see accepted records only, after the store took them.
func TestAcceptDeliversAcceptedToSubscribers(t *testing.T) {
	v, err := validate.New(validate.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, subs := &fakeStore{}, &fakeSubscribers{}
	p, err := New(Config{Checker: v, Store: st, Subscribers: subs})
	if err != nil {
		t.Fatal(err)
	}
	for _, price := range []string{"10", "-1", "11"} {
		if err := p.Accept(t.Context(), trade(price)); err != nil && !errors.Is(err, market.ErrRejected) {
			t.Fatal(err)
		}
	}
	if len(subs.got) != 2 || len(st.written) != 2 {
		t.Fatalf("subscribers got %d, store %d; want 2 and 2", len(subs.got), len(st.written))
	}
	st.err = errors.New("store down")
	if err := p.Accept(t.Context(), trade("12")); err == nil || len(subs.got) != 2 {
		t.Errorf("a record the store refused reached the subscribers (err %v)", err)
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("merge: %w", &pgconn.PgError{Code: code, Message: "m"})
	}
	tests := []struct {
		name string
		err  error
		want failure
	}{
		{"connection failure", pg("08006"), failTransient},
		{"serialization failure", pg("40001"), failTransient},
		{"deadlock", pg("40P01"), failTransient},
		{"disk full", pg("53100"), failTransient},
		{"too many connections", pg("53300"), failTransient},
		{"terminated by administrator", pg("57P01"), failTransient},
		{"server starting up", pg("57P03"), failTransient},
		{"statement timeout", pg("57014"), failTransient},
		{"check violation", pg("23514"), failRows},
		{"not null violation", pg("23502"), failRows},
		{"numeric overflow", pg("22003"), failRows},
		{"invalid byte sequence", pg("22021"), failRows},
		{"index row too large", pg("54000"), failRows},
		{"missing table", pg("42P01"), failOther},
		{"no privilege", pg("42501"), failOther},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), failTransient},
		{"network error", &net.OpError{Op: "read", Err: errors.New("connection reset")}, failTransient},
		{"connect error", &pgconn.ConnectError{}, failTransient},
		{"flush timeout", fmt.Errorf("%w after 30s: %w", ErrFlushTimeout, errors.New("copy cancelled")), failTransient},
		{"context deadline", fmt.Errorf("copy: %w", context.DeadlineExceeded), failTransient},
		{"plain error", errors.New("something"), failOther},
		{"text that looks transient is not read", errors.New("SQLSTATE 08006 connection failure"), failOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Fatalf("classify(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	minD, maxD := 50*time.Millisecond, 5*time.Second
	for attempt := range 70 {
		want := maxD
		if attempt < 7 {
			want = minD << attempt
		}
		for range 20 {
			d := retryDelay(minD, maxD, attempt)
			if d < want/2 || d > want {
				t.Fatalf("retryDelay(attempt %d) = %s, want within [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep: %v, want context.Canceled", err)
	}
}

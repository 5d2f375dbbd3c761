package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"marketetl/backoff"
)

// failure says what a failed database operation means for its rows.
type failure int

const (
	// failOther is neither a known transient condition nor a problem of
	// particular rows: a missing table, a missing privilege. Retried (the
	// rows are kept), but an operator probably has to act.
	failOther failure = iota
	// failTransient will likely pass on retry: a lost connection, a
	// serialization failure or deadlock, a server out of resources or
	// shutting down.
	failTransient
	// failRows is a refusal of the data itself (data exceptions, integrity
	// violations): retrying the same rows fails again, so the batch is
	// bisected to find them.
	failRows
)

// classify decides by SQLSTATE (and, for errors that never reached the
// server, by the error's type), never by its text.
func classify(err error) failure {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classifySQLState(pgErr.Code)
	}
	var netErr net.Error
	switch {
	case errors.Is(err, ErrFlushTimeout), errors.Is(err, context.DeadlineExceeded),
		pgconn.SafeToRetry(err), pgconn.Timeout(err),
		errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return failTransient
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return failTransient
	}
	return failOther
}

func classifySQLState(code string) failure {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"), // insufficient resources
		code == "40001",               // serialization_failure
		code == "40P01",               // deadlock_detected
		code == "55P03",               // lock_not_available
		code == "57014",               // query_canceled (statement_timeout)
		code == "57P01",               // admin_shutdown (pg_terminate_backend)
		code == "57P02",               // crash_shutdown
		code == "57P03",               // cannot_connect_now
		code == "57P05",               // idle_session_timeout
		code == "58000",               // system_error
		code == "58030":               // io_error
		return failTransient
	case strings.HasPrefix(code, "22"), // data exception
		strings.HasPrefix(code, "23"), // integrity constraint violation
		strings.HasPrefix(code, "21"), // cardinality violation
		code == "54000":               // program_limit_exceeded (index row too large)
		return failRows
	}
	return failOther
}

// sqlState returns the SQLSTATE of err, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// retryDelay returns the delay before retry number attempt (0 for the first
// retry): min doubled attempt times, capped at max, drawn from its upper
// half so that writers do not retry in step.
func retryDelay(minDelay, maxDelay time.Duration, attempt int) time.Duration {
	return backoff.Policy{Min: minDelay, Max: maxDelay, Jitter: backoff.Jitter{Below: 0.5}}.Delay(attempt)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

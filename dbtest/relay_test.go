package dbtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// throughRelay returns a relay to the test PostgreSQL server, set up by
// opts, and the maintenance database's URL through it.
func throughRelay(t *testing.T, opts ...RelayOption) (*Relay, string) {
	t.Helper()
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	r := NewRelay(t, u.Host, opts...)
	u.Host = r.Addr()
	q := u.Query()
	q.Set("sslmode", "disable") // the PostgreSQL hook reads plain messages
	u.RawQuery = q.Encode()
	return r, u.String()
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect through the relay: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestRelayForwards(t *testing.T) {
	r, dsn := throughRelay(t)
	var one int
	if err := connect(t, dsn).QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 through the relay = %d, %v", one, err)
	}
	if r.Accepted() != 1 || r.Refused() != 0 || r.Cuts() != 0 {
		t.Errorf("accepted %d refused %d cuts %d, want 1, 0, 0", r.Accepted(), r.Refused(), r.Cuts())
	}
}

func TestRelayDownRefusesThenForwards(t *testing.T) {
	r, dsn := throughRelay(t, WithDown())
	// Still listening: the connection is accepted, then closed at once.
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatalf("dial a relay that is down: %v (want accepted, then closed)", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("read from a refused connection: %v, want EOF", err)
	}
	_ = c.Close()
	if r.Refused() != 1 || r.Accepted() != 0 {
		t.Fatalf("refused %d accepted %d, want 1, 0", r.Refused(), r.Accepted())
	}

	r.SetDown(false)
	conn := connect(t, dsn)
	r.SetDown(true)
	if r.Cuts() != 1 {
		t.Errorf("SetDown(true) cut %d connections, want the 1 open", r.Cuts())
	}
	if err := conn.Ping(t.Context()); err == nil {
		t.Error("ping through a relay that went down succeeded")
	}
}

func TestRelayCloseAndReopen(t *testing.T) {
	r, dsn := throughRelay(t)
	addr := r.Addr()
	conn := connect(t, dsn)
	r.Close()
	if err := conn.Ping(t.Context()); err == nil {
		t.Error("ping through a closed relay succeeded")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatal("dial a closed relay succeeded, want connection refused")
	}
	r.Reopen()
	if r.Addr() != addr {
		t.Fatalf("reopened on %s, want the same address %s", r.Addr(), addr)
	}
	if err := connect(t, dsn).Ping(t.Context()); err != nil {
		t.Fatalf("ping through the reopened relay: %v", err)
	}
}

func TestRelayCutAfterNextWrite(t *testing.T) {
	r, dsn := throughRelay(t)
	conn := connect(t, dsn)
	if _, err := conn.Exec(t.Context(), "CREATE TEMP TABLE relay_cut (x int)"); err != nil {
		t.Fatal(err)
	}
	r.CutAfterNextWrite()
	if _, err := conn.Exec(t.Context(), "SELECT 1"); err == nil {
		t.Fatal("the request after CutAfterNextWrite got its answer")
	}
	if r.Cuts() != 1 {
		t.Errorf("%d cuts, want 1", r.Cuts())
	}
	// Only the next request: a new connection is forwarded normally.
	if err := connect(t, dsn).Ping(t.Context()); err != nil {
		t.Errorf("ping on a new connection: %v", err)
	}
}

// TestRelayPGHook checks the hook sees each query with its connection's
// backend pid, and that cutting after a message forwards it without
// letting the answer through.
func TestRelayPGHook(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	var backends []int32
	hook := func() PGHook {
		return func(typ byte, body []byte, backend int32) (bool, <-chan struct{}) {
			if typ != 'Q' {
				return false, nil
			}
			q := string(bytes.TrimRight(body, "\x00"))
			mu.Lock()
			seen, backends = append(seen, q), append(backends, backend)
			mu.Unlock()
			return q == "SELECT 'cut me'", nil
		}
	}
	r, dsn := throughRelay(t, WithPGHook(hook))
	conn := connect(t, dsn)
	var pid int32
	if err := conn.QueryRow(t.Context(), "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "SELECT 'cut me'", pgx.QueryExecModeSimpleProtocol); err == nil {
		t.Error("the query the hook cut after got its answer")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "SELECT pg_backend_pid()" || seen[1] != "SELECT 'cut me'" {
		t.Fatalf("hook saw %q, want the two queries", seen)
	}
	if backends[0] != pid || backends[1] != pid {
		t.Errorf("hook saw backends %v, want %d", backends, pid)
	}
	if r.Cuts() != 1 {
		t.Errorf("%d cuts, want 1", r.Cuts())
	}
}

// TestRelayHookHoldsUntilReleased checks a held message waits for its
// release, and that cutting the connection lets it go.
func TestRelayHookHoldsUntilReleased(t *testing.T) {
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	hook := func() PGHook {
		return func(typ byte, body []byte, _ int32) (bool, <-chan struct{}) {
			if typ == 'Q' && bytes.HasPrefix(body, []byte("SELECT 'hold'")) {
				held <- struct{}{}
				return false, release
			}
			return false, nil
		}
	}
	r, dsn := throughRelay(t, WithPGHook(hook))
	conn := connect(t, dsn)
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(t.Context(), "SELECT 'hold'", pgx.QueryExecModeSimpleProtocol)
		done <- err
	}()
	<-held
	select {
	case err := <-done:
		t.Fatalf("held query answered before its release: %v", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("released query: %v", err)
	}

	// A second hold, this time ended by cutting the connection.
	release = make(chan struct{})
	defer close(release)
	conn2 := connect(t, dsn)
	go func() {
		_, err := conn2.Exec(t.Context(), "SELECT 'hold'", pgx.QueryExecModeSimpleProtocol)
		done <- err
	}()
	<-held
	r.Cut()
	if err := <-done; err == nil {
		t.Error("query held through a cut got its answer")
	}
	// The cut let the held message go: Close returns (it waits for the
	// relay's goroutines) while release is still open.
	r.Close()
}

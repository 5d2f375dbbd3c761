package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait of a test, so that a broken simulator fails
// instead of hanging; it is not an assertion about speed.
const wait = 60 * time.Second

// start runs a simulator for cfg until the test ends.
func start(t *testing.T, cfg Config) (*Sim, Endpoints) {
	t.Helper()
	if cfg.CoinbaseHeartbeatInterval == 0 {
		cfg.CoinbaseHeartbeatInterval = -1 // tests send heartbeats through Step
	}
	s, err := New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ep, err := s.Listen(t.Context())
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, ep
}

// ctx returns a context bounded by wait.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return c
}

// client is a raw WebSocket client.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx(t), url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return &client{t: t, ws: ws}
}

func (c *client) send(msg string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatalf("send %s: %v", msg, err)
	}
}

// read returns the next text frame.
func (c *client) read() []byte {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	_, msg, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return msg
}

// expect reads the next frame and compares it with want.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.read(); string(got) != want {
		c.t.Fatalf("frame\n got %s\nwant %s", got, want)
	}
}

// readUntilError reads until the connection fails and returns the error.
func (c *client) readUntilError() error {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			return err
		}
	}
}

// closeCode returns the close code and text of err, or -1.
func closeCode(err error) (int, string) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Text
	}
	return -1, ""
}

// keys returns the keys of a JSON object in their order.
func keys(t *testing.T, frame []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(frame))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", frame)
	}
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("keys of %s: %v", frame, err)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("keys of %s: %v", frame, err)
		}
	}
	return out
}

// checkKeys fails unless frame's object has exactly the keys want, in order.
func checkKeys(t *testing.T, frame []byte, want ...string) {
	t.Helper()
	if got := keys(t, frame); !slices.Equal(got, want) {
		t.Fatalf("keys of %s\n got %v\nwant %v", frame, got, want)
	}
}

// field decodes the value at key of a JSON object into v.
func field(t *testing.T, frame []byte, key string, v any) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(frame, &m); err != nil {
		t.Fatalf("decode %s: %v", frame, err)
	}
	raw, ok := m[key]
	if !ok {
		t.Fatalf("no %q in %s", key, frame)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %q of %s: %v", key, frame, err)
	}
}

// get fetches url and returns the status, headers and body.
func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, body
}

func step(t *testing.T, s *Sim, n int) {
	t.Helper()
	if err := s.Step(ctx(t), n); err != nil {
		t.Fatalf("Step: %v", err)
	}
}

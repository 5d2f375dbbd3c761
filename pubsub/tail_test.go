package pubsub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"marketetl/dbtest"
)

// humanLines are the human-readable lines of the testdata examples, as the
// README shows them.
var humanLines = map[string]string{
	"trade.json":   "2026-11-24T09:00:00.123Z okx trade BTC-USDT buy 0.5 @ 42219.9",
	"ticker.json":  "2026-11-24T09:00:01.204Z coinbase ticker BTC-USD last 42221.37 bid 42221.36 x 0.1487 ask 42221.37 x 0.02",
	"candle.json":  "2026-11-24T09:00:00.000Z binance candle.1m BTC-USDT o 42210.01 h 42230 l 42205.5 c 42219.9 v 18.40321 forming",
	"book.json":    "2026-11-24T09:00:02.250Z binance book ETH-USDT bid 2250.41 x 12.5 ask 2250.42 x 3.1 (3/3 levels) seq 41872390211",
	"balance.json": "2026-11-24T09:00:05.000Z okx balance BTC spot free 1.25 locked 0.05",
}

// example returns a testdata example as one line of JSON, as published.
func example(t testing.TB, file string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAppendHuman(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range humanLines {
		t.Run(file, func(t *testing.T) {
			if got := string(AppendHuman(nil, "md:x", example(t, file))); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if !bytes.Contains(readme, []byte(want)) {
				t.Errorf("README.md does not show %q", want)
			}
		})
	}
	t.Run("undecodable", func(t *testing.T) {
		got := string(AppendHuman(nil, "md:okx:trade:BTC\x1b[2J", []byte("{\"v\":2}\x1b")))
		if !strings.HasPrefix(got, "? md_okx_trade_BTC__2J decode payload") || strings.ContainsRune(got, 0x1b) {
			t.Errorf("got %q: want a '?' line with the channel sanitised and no control character", got)
		}
	})
	t.Run("names sanitised", func(t *testing.T) {
		payload := bytes.Replace(example(t, "trade.json"), []byte(`"symbol":"BTC-USDT"`), []byte(`"symbol":"BTC\u001b[2J"`), 1)
		if got := string(AppendHuman(nil, "md:x", payload)); !strings.Contains(got, " trade BTC__2J buy ") {
			t.Errorf("got %q: want the symbol sanitised", got)
		}
	})
}

// lineWriter collects Tail's output lines.
type lineWriter struct {
	mu   sync.Mutex // guards buf, fail
	buf  bytes.Buffer
	fail error
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return 0, w.fail
	}
	return w.buf.Write(p)
}

func (w *lineWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Split(strings.TrimSuffix(w.buf.String(), "\n"), "\n")
}

func (w *lineWriter) has(line string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Contains("\n"+w.buf.String(), "\n"+line+"\n")
}

// tail runs Tail until the returned stop is called; stop returns Tail's
// error.
func tail(t *testing.T, url, pattern string, w *lineWriter, raw bool) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Tail(ctx, url, pattern, w, raw) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestTailPrintsMessages(t *testing.T) {
	files := []string{"trade.json", "ticker.json", "candle.json", "book.json", "balance.json"}
	for _, raw := range []bool{false, true} {
		t.Run(map[bool]string{false: "human", true: "raw"}[raw], func(t *testing.T) {
			c, prefix := testRedis(t)
			w := &lineWriter{}
			stop := tail(t, redisURL(), prefix+":*", w, raw)
			// Subscribed once a probe comes through; probes are left out below.
			probe := bytes.Replace(example(t, "trade.json"), []byte("BTC-USDT"), []byte("PROBE-X"), 1)
			await(t, "Tail to subscribe", func() bool {
				if err := c.Publish(t.Context(), prefix+":probe", probe).Err(); err != nil {
					t.Fatal(err)
				}
				return slices.ContainsFunc(w.lines(), isProbe)
			})

			var want []string
			for _, f := range files {
				payload := example(t, f)
				if err := c.Publish(t.Context(), prefix+":okx:x:y", payload).Err(); err != nil {
					t.Fatal(err)
				}
				if raw {
					want = append(want, string(payload))
				} else {
					want = append(want, humanLines[f])
				}
			}
			var got []string
			await(t, "every line", func() bool {
				got = slices.DeleteFunc(w.lines(), isProbe)
				return len(got) >= len(want)
			})
			if err := stop(); err != nil {
				t.Fatalf("Tail returned %v when its context ended, want nil", err)
			}
			got = slices.DeleteFunc(w.lines(), isProbe)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func isProbe(line string) bool { return strings.Contains(line, "PROBE-X") }

func TestTailResubscribes(t *testing.T) {
	c, prefix := testRedis(t)
	rl := dbtest.NewRelay(t, c.Options().Addr)
	w := &lineWriter{}
	stop := tail(t, relayURL(rl), prefix+":*", w, false)
	probe := func(what string) {
		before := len(w.lines())
		await(t, what, func() bool {
			if err := c.Publish(t.Context(), prefix+":probe", example(t, "trade.json")).Err(); err != nil {
				t.Fatal(err)
			}
			return slices.Contains(w.lines()[before:], humanLines["trade.json"])
		})
	}
	probe("Tail to subscribe")
	rl.Close()
	await(t, "Tail to notice", func() bool {
		return slices.ContainsFunc(w.lines(), func(l string) bool { return strings.HasPrefix(l, "# connection lost (") })
	})
	rl.Reopen()
	await(t, "Tail to resubscribe", func() bool { return w.has("# resubscribed to " + prefix + ":*") })
	probe("messages after resubscribing")
	if err := stop(); err != nil {
		t.Errorf("Tail returned %v, want nil", err)
	}
}

func TestTailErrors(t *testing.T) {
	t.Run("bad URL", func(t *testing.T) {
		err := Tail(t.Context(), "redis://:pw-secret@127.0.0.1:x/0", "", &lineWriter{}, false)
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("got %v, want an error naming REDIS_URL without the password", err)
		}
	})
	t.Run("Redis unreachable", func(t *testing.T) {
		err := Tail(t.Context(), "redis://127.0.0.1:"+closedPort(t)+"/0", "", &lineWriter{}, false)
		if err == nil || !strings.Contains(err.Error(), "subscribe") {
			t.Errorf("got %v, want a subscribe error", err)
		}
	})
	t.Run("write fails", func(t *testing.T) {
		c, prefix := testRedis(t)
		broken := errors.New("broken pipe")
		w := &lineWriter{fail: broken}
		done := make(chan error, 1)
		go func() { done <- Tail(t.Context(), redisURL(), prefix+":*", w, true) }()
		var err error
		await(t, "Tail to fail writing", func() bool {
			if perr := c.Publish(t.Context(), prefix+":probe", "{}").Err(); perr != nil {
				t.Fatal(perr)
			}
			select {
			case err = <-done:
				return true
			default:
				return false
			}
		})
		if !errors.Is(err, broken) {
			t.Errorf("got %v, want the write error", err)
		}
	})
}

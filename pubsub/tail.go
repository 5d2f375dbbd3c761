package pubsub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"marketetl/backoff"
	"marketetl/market"
)

// DefaultTailPattern is the pattern Tail subscribes to when given none:
// every channel of the default prefix.
const DefaultTailPattern = DefaultChannelPrefix + ":*"

// TailClientName names Tail's Redis connection.
const TailClientName = "marketetl-tail"

// Tail timings: how long a silent subscription waits before it pings, and
// the bounds of the delay between resubscription attempts.
const (
	tailPingAfter = 30 * time.Second
	tailRetryMin  = 200 * time.Millisecond
	tailRetryMax  = 5 * time.Second
)

// humanTimeLayout is the time of a human-readable line: UTC, milliseconds.
const humanTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Tail subscribes to pattern (PSUBSCRIBE; "" means DefaultTailPattern) on
// the Redis server at redisURL and writes each message to w on one line:
// the raw JSON payload when raw is true, otherwise a human-readable line
// such as
//
//	2026-11-24T09:00:00.123Z okx trade BTC-USDT buy 0.5 @ 42219.9
//
// It returns nil when ctx ends. A URL that does not parse, a first
// subscription that fails or a failed write to w is an error. After the
// first subscription, a lost connection is retried with backoff; in
// human-readable mode Tail notes the loss and the recovery on lines that
// start with '#' (messages published meanwhile are missed).
func Tail(ctx context.Context, redisURL, pattern string, w io.Writer, raw bool) error {
	if redisURL == "" {
		redisURL = DefaultURL
	}
	if pattern == "" {
		pattern = DefaultTailPattern
	}
	opts, err := redisOptions(redisURL)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	opts.ClientName = TailClientName
	client := redis.NewClient(opts)
	defer client.Close()

	t := &tailer{client: client, pattern: pattern, w: w, raw: raw, secret: opts.Password}
	retry := backoff.Policy{Min: tailRetryMin, Max: tailRetryMax, Jitter: backoff.Jitter{Below: 0.5}}
	attempt := 0
	for {
		err := t.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var werr *writeError
		if errors.As(err, &werr) {
			return fmt.Errorf("tail: %w", werr.err)
		}
		if !t.subscribed {
			return fmt.Errorf("tail: subscribe %q: %s", pattern, t.scrub(err))
		}
		if err := t.note("# connection lost (" + t.scrub(err) + "); resubscribing"); err != nil {
			return fmt.Errorf("tail: %w", err)
		}
		timer := time.NewTimer(retry.Delay(attempt))
		attempt++
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// tailer is Tail's state.
type tailer struct {
	client     *redis.Client
	pattern    string
	w          io.Writer
	raw        bool
	secret     string
	subscribed bool
	line       []byte
}

// writeError marks a failure to write to Tail's writer, which ends Tail.
type writeError struct{ err error }

// Error implements error.
func (e *writeError) Error() string { return "write: " + e.err.Error() }

// session subscribes and prints messages until the connection fails or
// ctx ends.
func (t *tailer) session(ctx context.Context) error {
	ps := t.client.PSubscribe(ctx, t.pattern)
	// A blocked receive does not watch ctx: closing the subscription ends it.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		_ = ps.Close()
	})
	defer func() {
		if !stop() {
			<-closed
			return
		}
		_ = ps.Close()
	}()

	if _, err := ps.Receive(ctx); err != nil {
		return err
	}
	if t.subscribed {
		if err := t.note("# resubscribed to " + t.pattern); err != nil {
			return err
		}
	}
	t.subscribed = true
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, tailPingAfter)
		var nerr net.Error
		switch {
		case err == nil:
		case errors.As(err, &nerr) && nerr.Timeout():
			if pinged {
				return fmt.Errorf("no reply to ping within %s", tailPingAfter)
			}
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			continue
		default:
			return err
		}
		pinged = false
		if m, ok := msg.(*redis.Message); ok {
			if err := t.print(m); err != nil {
				return err
			}
		}
	}
}

// print writes one message's line.
func (t *tailer) print(m *redis.Message) error {
	t.line = t.line[:0]
	if t.raw {
		t.line = append(t.line, m.Payload...)
	} else {
		t.line = AppendHuman(t.line, m.Channel, []byte(m.Payload))
	}
	t.line = append(t.line, '\n')
	if _, err := t.w.Write(t.line); err != nil {
		return &writeError{err}
	}
	return nil
}

// note writes a line of its own in human-readable mode; raw output stays
// pure JSON lines.
func (t *tailer) note(line string) error {
	if t.raw {
		return nil
	}
	if _, err := io.WriteString(t.w, line+"\n"); err != nil {
		return &writeError{err}
	}
	return nil
}

// scrub returns err's text without the URL's password.
func (t *tailer) scrub(err error) string {
	text := err.Error()
	if t.secret != "" {
		text = strings.ReplaceAll(text, t.secret, "xxxxx")
	}
	return text
}

// maxShownPayload bounds how much of an undecodable payload a human line shows.
const maxShownPayload = 200

// AppendHuman appends the human-readable line (without newline) of a
// message received on channel: the exchange time in UTC with milliseconds,
// the exchange, the type, the symbol and the record's main values, for
// example "2026-11-24T09:00:00.123Z okx trade BTC-USDT buy 0.5 @ 42219.9".
// A payload that does not decode is shown as "? <channel> <error>: <payload>".
// Names are passed through SanitizePart, so no control character reaches a
// terminal.
func AppendHuman(dst []byte, channel string, payload []byte) []byte {
	rec, err := Decode(payload)
	if err != nil {
		if len(payload) > maxShownPayload {
			payload = payload[:maxShownPayload]
		}
		dst = append(dst, "? "...)
		dst = append(dst, SanitizePart(channel)...)
		dst = append(dst, ' ')
		dst = append(dst, err.Error()...)
		dst = append(dst, ": "...)
		return append(dst, strconv.QuoteToASCII(string(payload))...)
	}
	h := rec.Header()
	dst = h.Time.UTC().AppendFormat(dst, humanTimeLayout)
	dst = append(dst, ' ')
	dst = append(dst, SanitizePart(string(h.Exchange))...)
	dst = append(dst, ' ')
	dst = append(dst, SanitizePart(rec.Stream().Kind())...)
	dst = append(dst, ' ')
	dst = append(dst, SanitizePart(string(h.Symbol))...)
	switch r := rec.(type) {
	case *market.Trade:
		dst = append(dst, ' ')
		dst = append(dst, SanitizePart(string(r.Side))...)
		dst = appendWords(dst, r.Size.String(), "@", r.Price.String())
	case *market.Ticker:
		dst = appendOptional(dst, "last", r.Last, decimal.NullDecimal{})
		dst = appendOptional(dst, "bid", r.Bid, r.BidSize)
		dst = appendOptional(dst, "ask", r.Ask, r.AskSize)
	case *market.Candle:
		dst = appendWords(dst, "o", r.Open.String(), "h", r.High.String(), "l", r.Low.String(),
			"c", r.Close.String(), "v", r.Volume.String())
		switch {
		case r.Closed:
			dst = append(dst, " closed"...)
		case r.Provisional:
			dst = append(dst, " provisional"...)
		default:
			dst = append(dst, " forming"...)
		}
	case *market.BookSnapshot:
		if len(r.Bids) > 0 {
			dst = appendWords(dst, "bid", r.Bids[0].Price.String(), "x", r.Bids[0].Size.String())
		}
		if len(r.Asks) > 0 {
			dst = appendWords(dst, "ask", r.Asks[0].Price.String(), "x", r.Asks[0].Size.String())
		}
		dst = appendWords(dst, "("+strconv.Itoa(len(r.Bids))+"/"+strconv.Itoa(len(r.Asks))+" levels)")
		if r.Sequence != 0 {
			dst = appendWords(dst, "seq", strconv.FormatInt(r.Sequence, 10))
		}
	case *market.Balance:
		dst = appendWords(dst, SanitizePart(r.Account), "free", r.Free.String(), "locked", r.Locked.String())
	}
	return dst
}

// appendWords appends each word preceded by a space.
func appendWords(dst []byte, words ...string) []byte {
	for _, w := range words {
		dst = append(dst, ' ')
		dst = append(dst, w...)
	}
	return dst
}

// appendOptional appends " label value" and " x size" for the values that
// are present.
func appendOptional(dst []byte, label string, value, size decimal.NullDecimal) []byte {
	if !value.Valid {
		return dst
	}
	dst = appendWords(dst, label, value.Decimal.String())
	if size.Valid {
		dst = appendWords(dst, "x", size.Decimal.String())
	}
	return dst
}

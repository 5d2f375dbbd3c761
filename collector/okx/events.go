package okx

import (
	"bytes"
	"fmt"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// noticeServiceUpgrade is the code of the notice OKX sends 60 s before it
// closes connections for a service upgrade (overview-websocket-notification).
const noticeServiceUpgrade = "64008"

// handleEvent decodes an "event" frame (overview-websocket-subscribe,
// -unsubscribe, -notification, -connection-count-limit):
//
//   - subscribe: the stream in "arg" goes to ev.Acked;
//   - unsubscribe: ev.Ignored (the loop has already dropped the stream; an
//     Acked entry would mark it subscribed again);
//   - error: ev.Err with OKX's code and message, the stream when "arg" or
//     the message names one, and Permanent for the codes of permanentCode;
//   - notice 64008: ev.Reconnect; other notices: ev.Ignored;
//   - channel-conn-count and channel-conn-count-error: ev.Ignored (they
//     concern private channels only).
//
// Any other event is refused with ReasonUnknownEvent.
func (d *decoder) handleEvent() error {
	name := d.s.Bytes()[d.event.Off:d.event.End]
	switch string(name) {
	case "subscribe":
		if err := d.resolveStream(); err != nil {
			return err
		}
		d.ev.Acked = append(d.ev.Acked, d.stream)
		return nil
	case "unsubscribe":
		d.ev.Ignored = true
		return nil
	case "error":
		d.ev.Err = d.exchangeError()
		return nil
	case "notice":
		if code, _ := d.codeText(); code == noticeServiceUpgrade {
			d.ev.Reconnect = true
			return nil
		}
		d.ev.Ignored = true
		return nil
	case "channel-conn-count", "channel-conn-count-error":
		d.ev.Ignored = true
		return nil
	}
	return d.fail(ReasonUnknownEvent, "event", fmt.Errorf("event %q", name))
}

// codeText returns the frame's "code" as text.
func (d *decoder) codeText() (string, error) {
	if !d.code.Present() {
		return "", nil
	}
	if d.code.Kind == wire.KindNumber {
		return string(d.s.Bytes()[d.code.Off:d.code.End]), nil
	}
	v, err := wire.Text(d.s.Bytes(), d.code)
	return string(v), err
}

// exchangeError builds the ExchangeError of an error event.
func (d *decoder) exchangeError() *collector.ExchangeError {
	ee := &collector.ExchangeError{Exchange: market.OKX}
	ee.Code, _ = d.codeText()
	if d.msg.Present() {
		msg, err := wire.Text(d.s.Bytes(), d.msg)
		if err == nil {
			ee.Message = string(msg)
		}
	}
	ee.Permanent = permanentCode(ee.Code)
	ee.UnknownCode = !knownCode(ee.Code)
	if st, _, _, err := d.arg.stream(d.s.Bytes(), d.syms); err == nil {
		ee.Stream = st
	} else if st, ok := streamInMessage([]byte(ee.Message)); ok {
		ee.Stream = st
	}
	return ee
}

// permanentCode reports whether a WebSocket error code means that the same
// request cannot succeed later (error-code-websocket-public): an unknown
// channel or instrument, a channel on the wrong URL, a malformed request,
// or credentials. Requests too frequent (60014), internal errors (63999,
// 64007) and unknown codes are not permanent.
func permanentCode(code string) bool {
	switch code {
	case "60004", "60005", "60006", "60007", "60009", "60011", // login and credentials
		"60024", "60026", "60031", "60032",
		"60008", "60028", // the endpoint does not serve the channel or operation
		"60012", "60013", "60019", "60027", "60033", // malformed request
		"60018",                                     // wrong URL, or the channel or instId does not exist
		"64000", "64001", "64002", "64003", "64004", // wrong parameter, URL or access for the channel
		"51001": // instrument does not exist (REST code, seen in WebSocket messages too)
		return true
	}
	return false
}

// knownCode reports whether code is one of OKX's documented WebSocket
// error codes (error-code-websocket-public: 60004 to 64008) or 51001,
// a REST code also seen on the feed. Any other code, or none, means the
// exchange may have changed its API: a protocol anomaly, not a reason to
// redial.
func knownCode(code string) bool {
	if permanentCode(code) {
		return true
	}
	switch code {
	case "60014", // requests too frequent
		"60023",          // bulk login requests too frequent
		"63999",          // login failed due to an internal error
		"64007", "64008": // internal error; connection closing for an upgrade
		return true
	}
	return false
}

// streamInMessage finds the stream an error message names, as in
// "Wrong URL or channel:tickers,instId:NOPE-USDT doesn't exist." or
// "Invalid request: {\"op\": \"subscribe\", \"args\":[{ \"channel\" :
// \"tickers\", \"instId\" : \"LTC-USDT\"}]}". It reports false unless both
// a channel this adapter knows and a well-formed symbol are found.
func streamInMessage(msg []byte) (market.Stream, bool) {
	ch := valueAfter(msg, []byte("channel"))
	inst := valueAfter(msg, []byte("instId"))
	if ch == nil || inst == nil {
		return market.Stream{}, false
	}
	typ, tf, ok := kindOf(ch)
	if !ok {
		return market.Stream{}, false
	}
	sym := market.Symbol(inst)
	if sym.Check() != nil {
		return market.Stream{}, false
	}
	return market.Stream{Exchange: market.OKX, Symbol: sym, Type: typ, Timeframe: tf}, true
}

// valueAfter returns the word that follows the first occurrence of name and
// a colon, skipping quotes and spaces: the letters, digits and dashes up to
// the next other character. It returns nil when there is none.
func valueAfter(msg, name []byte) []byte {
	for off := 0; off < len(msg); {
		i := bytes.Index(msg[off:], name)
		if i < 0 {
			return nil
		}
		j := off + i + len(name)
		off = j
		j = skipQuotesAndSpaces(msg, j)
		if j >= len(msg) || msg[j] != ':' {
			continue
		}
		j = skipQuotesAndSpaces(msg, j+1)
		k := j
		for k < len(msg) && (isDigit(msg[k]) || msg[k] >= 'a' && msg[k] <= 'z' || msg[k] >= 'A' && msg[k] <= 'Z' || msg[k] == '-') {
			k++
		}
		if k > j {
			return msg[j:k]
		}
	}
	return nil
}

func skipQuotesAndSpaces(b []byte, i int) int {
	for i < len(b) && (b[i] == '"' || b[i] == ' ' || b[i] == '\\') {
		i++
	}
	return i
}

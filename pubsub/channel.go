package pubsub

import (
	"strings"
	"unicode/utf8"

	"marketetl/market"
)

// DefaultChannelPrefix is the first part of every channel name unless
// configured otherwise (REDIS_CHANNEL_PREFIX).
const DefaultChannelPrefix = "md"

// streamInfix separates the prefix from the rest of a stream key:
// <prefix>:stream:<exchange>:<type>:<symbol>.
const streamInfix = "stream"

// Channel returns the pub/sub channel of stream s:
// <prefix>:<exchange>:<type>:<symbol>, where <type> is s.Kind() (ticker,
// trade, book, balance or candle.<timeframe>), for example
// md:okx:trade:BTC-USDT or md:binance:candle.1m:BTC-USDT. The exchange, type
// and symbol parts are sanitised (see SanitizePart); prefix is used as given.
func Channel(prefix string, s market.Stream) string {
	name, _ := channelName(prefix, s)
	return name
}

// ChannelStream is the stream whose channel rec is published on: its own
// Stream, except for a balance, which goes on its account's channel
// (<prefix>:<exchange>:balance:<account>, every asset on one channel) and
// not on a channel per asset.
func ChannelStream(rec market.Record) market.Stream {
	if b, ok := rec.(*market.Balance); ok {
		return market.Stream{Exchange: b.Exchange, Type: market.TypeBalance, Symbol: market.Symbol(b.Account)}
	}
	return rec.Stream()
}

// StreamKey returns the key of the Redis stream that mirrors the channel of
// s when the stream option is on: <prefix>:stream:<exchange>:<type>:<symbol>.
func StreamKey(prefix string, s market.Stream) string {
	name, _ := channelName(prefix+":"+streamInfix, s)
	return name
}

// channelName builds the channel name and reports whether any part had to
// be sanitised.
func channelName(prefix string, s market.Stream) (string, bool) {
	ex, c1 := sanitize(string(s.Exchange))
	kind, c2 := sanitize(s.Kind())
	sym, c3 := sanitize(string(s.Symbol))
	var b strings.Builder
	b.Grow(len(prefix) + len(ex) + len(kind) + len(sym) + 3)
	b.WriteString(prefix)
	b.WriteByte(':')
	b.WriteString(ex)
	b.WriteByte(':')
	b.WriteString(kind)
	b.WriteByte(':')
	b.WriteString(sym)
	return b.String(), c1 || c2 || c3
}

// SanitizePart returns s made safe as one part of a channel name: every
// character other than the ASCII letters and digits, '-', '_' and '.' —
// among them spaces, control characters, ':' and the glob characters
// * ? [ ] \ — is replaced by '_' (one '_' per character; a byte that is not
// valid UTF-8 counts as one character), and an empty part becomes "_".
// Case is kept. A valid symbol (BTC-USDT), exchange (okx) or type
// (candle.1m) is returned unchanged.
func SanitizePart(s string) string {
	out, _ := sanitize(s)
	return out
}

// sanitize is SanitizePart that also reports whether s changed.
func sanitize(s string) (string, bool) {
	if s == "" {
		return "_", true
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !safeChannelByte(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if safeChannelByte(c) {
			b.WriteByte(c)
			i++
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		b.WriteByte('_')
		i += size
	}
	return b.String(), true
}

// safeChannelByte reports whether c may appear in a channel name part.
func safeChannelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.'
}

// validPrefix reports whether prefix can start channel names: it must be
// non-empty, made of the characters SanitizePart keeps and ':', and neither
// start nor end with ':'.
func validPrefix(prefix string) bool {
	if prefix == "" || prefix[0] == ':' || prefix[len(prefix)-1] == ':' {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; c != ':' && !safeChannelByte(c) {
			return false
		}
	}
	return true
}

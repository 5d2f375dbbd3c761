package okx

import (
	"fmt"
	"sort"
	"strconv"

	"marketetl/collector"
	"marketetl/market"
)

// maxFrameBytes bounds one subscribe or unsubscribe frame. OKX: "the total
// length of multiple channels cannot exceed 64 KB" (overview-websocket-
// subscribe); the whole frame is kept under that, and a request for more
// streams is split into several frames.
const maxFrameBytes = 64000

// Plan implements collector.Protocol. Tickers and trades go on the
// connection "public" (PublicURL), candles on "business" (BusinessURL),
// where OKX serves the candlestick channels; a connection without streams
// is left out. Order books and balances are refused, as is a stream of
// another exchange. Duplicate streams are planned once.
func (a *Adapter) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	var public, business []market.Stream
	seen := make(map[string]bool, len(streams))
	for _, s := range streams {
		_, key, err := channelOf(s)
		if err != nil {
			return nil, fmt.Errorf("okx plan: %w", err)
		}
		k := s.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		if key == keyBusiness {
			business = append(business, s)
		} else {
			public = append(public, s)
		}
	}
	var plans []collector.ConnPlan
	if len(public) > 0 {
		sortStreams(public)
		plans = append(plans, collector.ConnPlan{Key: keyPublic, URL: a.cfg.PublicURL, Streams: public})
	}
	if len(business) > 0 {
		sortStreams(business)
		plans = append(plans, collector.ConnPlan{Key: keyBusiness, URL: a.cfg.BusinessURL, Streams: business})
	}
	return plans, nil
}

// Subscribe implements collector.Protocol: {"id":"<id>","op":"subscribe",
// "args":[{"channel":...,"instId":...},...]} (overview-websocket-subscribe).
// The request is split into several frames when it would exceed 64 KB; the
// first frame carries the id, the next ones the id followed by "p" and the
// frame's number, so that every frame has its own id of at most 32
// alphanumerics.
func (a *Adapter) Subscribe(plan collector.ConnPlan, streams []market.Stream, id uint64) ([][]byte, error) {
	frames, err := requestFrames("subscribe", plan, streams, id)
	if err != nil {
		return nil, fmt.Errorf("okx subscribe: %w", err)
	}
	return frames, nil
}

// Unsubscribe implements collector.Protocol with "op":"unsubscribe"
// (overview-websocket-unsubscribe); frames are split as for Subscribe.
func (a *Adapter) Unsubscribe(plan collector.ConnPlan, streams []market.Stream, id uint64) ([][]byte, error) {
	frames, err := requestFrames("unsubscribe", plan, streams, id)
	if err != nil {
		return nil, fmt.Errorf("okx unsubscribe: %w", err)
	}
	return frames, nil
}

// requestFrames builds the frames of operation op for streams on the
// connection of plan.
func requestFrames(op string, plan collector.ConnPlan, streams []market.Stream, id uint64) ([][]byte, error) {
	if len(streams) == 0 {
		return nil, nil
	}
	args := make([][]byte, 0, len(streams))
	for _, s := range streams {
		ch, key, err := channelOf(s)
		if err != nil {
			return nil, err
		}
		if key != plan.Key {
			return nil, fmt.Errorf("stream %s belongs on connection %q, not %q", s, key, plan.Key)
		}
		// Channel names and normalised symbols are plain ASCII letters,
		// digits and dashes: nothing to escape.
		arg := make([]byte, 0, 32+len(ch)+len(s.Symbol))
		arg = append(arg, `{"channel":"`...)
		arg = append(arg, ch...)
		arg = append(arg, `","instId":"`...)
		arg = append(arg, s.Symbol...)
		arg = append(arg, `"}`...)
		args = append(args, arg)
	}
	var frames [][]byte
	for n, rest := 0, args; len(rest) > 0; n++ {
		head := frameHead(op, id, n)
		frame := head
		taken := 0
		for _, arg := range rest {
			// Room for the separator and the closing "]}".
			if taken > 0 && len(frame)+1+len(arg)+2 > maxFrameBytes {
				break
			}
			if taken > 0 {
				frame = append(frame, ',')
			}
			frame = append(frame, arg...)
			taken++
		}
		frame = append(frame, "]}"...)
		frames = append(frames, frame)
		rest = rest[taken:]
	}
	return frames, nil
}

// frameHead returns the start of frame number n of one request, up to the
// opening bracket of args.
func frameHead(op string, id uint64, n int) []byte {
	h := make([]byte, 0, 64)
	h = append(h, `{"id":"`...)
	h = strconv.AppendUint(h, id, 10)
	if n > 0 {
		h = append(h, 'p')
		h = strconv.AppendInt(h, int64(n), 10)
	}
	h = append(h, `","op":"`...)
	h = append(h, op...)
	h = append(h, `","args":[`...)
	return h
}

func sortStreams(s []market.Stream) {
	sort.Slice(s, func(i, j int) bool { return s[i].String() < s[j].String() })
}

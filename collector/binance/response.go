package binance

import (
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// exchangeError decodes an error response: as observed,
// {"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}
// (https://github.com/ccxt/ccxt/pull/19833), or as documented,
// {"code":2,"msg":"Invalid request: ...","id":1} (web-socket-streams.md
// "Error Messages"). Binance's errors do not name the stream at fault.
func (d *decoder) exchangeError(m *message, ev *collector.Event) error {
	top := &m.f[levelTop]
	code, msg := top.code, top.msg
	switch top.error.Kind {
	case wire.KindNone:
	case wire.KindObject:
		code, msg = m.f[levelError].code, m.f[levelError].msg
	case wire.KindString:
		code, msg = wire.Span{}, top.error
	default:
		return d.fail(collector.ReasonBadField, "error", errWrongType)
	}
	var codeText []byte
	switch code.Kind {
	case wire.KindNone:
	case wire.KindNumber:
		codeText = d.b[code.Off:code.End]
	case wire.KindString:
		var err error
		if codeText, err = d.text(code, "code"); err != nil {
			return err
		}
	default:
		return d.fail(collector.ReasonBadField, "code", errWrongType)
	}
	var msgText []byte
	if msg.Present() {
		var err error
		if msgText, err = d.text(msg, "msg"); err != nil {
			return err
		}
	}
	if len(codeText) == 0 && len(msgText) == 0 {
		return d.fail(collector.ReasonBadField, "error", errMissing)
	}
	ev.Err = &collector.ExchangeError{
		Exchange:  market.Binance,
		Code:      string(codeText),
		Message:   string(msgText),
		Permanent: permanentWSCode(string(codeText)),
		// The documented codes are 0 to 3, all permanent.
		UnknownCode: !permanentWSCode(string(codeText)),
	}
	return nil
}

// permanentWSCode reports whether a WebSocket error code means that the
// same request cannot succeed. Binance's documented codes all do: 0
// unknown property, 1 invalid value type, 2 invalid request (unknown
// method, bad id, too many parameters, invalid stream), 3 invalid JSON.
func permanentWSCode(code string) bool {
	switch code {
	case "0", "1", "2", "3":
		return true
	}
	return false
}

// response decodes the answer to a request: {"result":null,"id":N}
// acknowledges a SUBSCRIBE or UNSUBSCRIBE. Other results answer
// LIST_SUBSCRIPTIONS, GET_PROPERTY or SET_PROPERTY, which the adapter does
// not send, and an id that is not a number is not one of the adapter's;
// both are ignored.
func (d *decoder) response(top *fields, ev *collector.Event) error {
	if top.result.Kind != wire.KindNull || top.id.Kind != wire.KindNumber {
		ev.Ignored = true
		return nil
	}
	id, err := d.count(top.id, "id")
	if err != nil {
		return err
	}
	if id == 0 {
		ev.Ignored = true
		return nil
	}
	ev.AckID = uint64(id)
	return nil
}

// text returns a string value's text.
func (d *decoder) text(s wire.Span, field string) ([]byte, error) {
	switch s.Kind {
	case wire.KindString:
		if !s.Esc {
			return d.b[s.Off:s.End], nil
		}
		t, err := wire.Text(d.b, s)
		if err != nil {
			return nil, d.fail(collector.ReasonBadField, field, err)
		}
		return t, nil
	case wire.KindNone:
		return nil, d.fail(collector.ReasonBadField, field, errMissing)
	}
	return nil, d.fail(collector.ReasonBadField, field, errWrongType)
}

// decimal reads a decimal written as a JSON string, as Binance writes
// prices and quantities.
func (d *decoder) decimal(s wire.Span, field string) (decimal.Decimal, error) {
	t, err := d.text(s, field)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if d.dec == nil {
		d.dec = d.a.decimals.Get()
	}
	v, err := d.dec.Parse(t)
	if err != nil {
		return decimal.Decimal{}, d.fail(collector.ReasonBadNumber, field, err)
	}
	return v, nil
}

func (d *decoder) nullDecimal(s wire.Span, field string) (decimal.NullDecimal, error) {
	v, err := d.decimal(s, field)
	if err != nil {
		return decimal.NullDecimal{}, err
	}
	return decimal.NullDecimal{Decimal: v, Valid: true}, nil
}

// count reads a non-negative JSON integer.
func (d *decoder) count(s wire.Span, field string) (int64, error) {
	switch s.Kind {
	case wire.KindNumber:
		n, err := wire.ParseCount(d.b[s.Off:s.End])
		if err != nil {
			return 0, d.fail(collector.ReasonBadNumber, field, err)
		}
		return n, nil
	case wire.KindNone:
		return 0, d.fail(collector.ReasonBadField, field, errMissing)
	}
	return 0, d.fail(collector.ReasonBadField, field, errWrongType)
}

// maxMillis is 9999-12-31T23:59:59.999Z.
const maxMillis = 253402300799999

// time reads milliseconds since the epoch, in UTC.
func (d *decoder) time(s wire.Span, field string) (time.Time, error) {
	ms, err := d.count(s, field)
	if err != nil {
		return time.Time{}, err
	}
	if ms <= 0 || ms > maxMillis {
		return time.Time{}, d.fail(collector.ReasonBadTimestamp, field, errBadMillis)
	}
	return time.UnixMilli(ms).UTC(), nil
}

func (d *decoder) bool(s wire.Span, field string) (bool, error) {
	switch s.Kind {
	case wire.KindTrue:
		return true, nil
	case wire.KindFalse:
		return false, nil
	case wire.KindNone:
		return false, d.fail(collector.ReasonBadField, field, errMissing)
	}
	return false, d.fail(collector.ReasonBadField, field, errWrongType)
}

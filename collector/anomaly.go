package collector

import (
	"errors"

	"go.uber.org/zap"

	"marketetl/market"
)

// The kinds of protocol anomaly: signs that an exchange changed its API.
// They are counted in Status.Anomalies (etl_protocol_anomalies_total) and
// logged once per kind; the stream goes on.
const (
	// AnomalyUnknownMessage: a message of a type, channel or event the
	// adapter does not know.
	AnomalyUnknownMessage = "unknown_message"
	// AnomalyBadField: a known message with a field missing, of the wrong
	// type or not understood.
	AnomalyBadField = "bad_field"
	// AnomalyUnknownErrorCode: an error whose code the adapter does not
	// know (ExchangeError.UnknownCode).
	AnomalyUnknownErrorCode = "unknown_error_code"
	// AnomalySubscriptionRefused: the exchange refused a stream's
	// subscription for good (an instrument it does not have): the stream
	// is marked refused in Status, not redialled.
	AnomalySubscriptionRefused = "subscription_refused"
)

// AnomalyKinds lists the kinds of protocol anomaly, for metrics.
func AnomalyKinds() []string {
	return []string{AnomalyUnknownMessage, AnomalyBadField, AnomalyUnknownErrorCode, AnomalySubscriptionRefused}
}

// decodeAnomaly returns the anomaly kind of a decode error, "" when it is
// not one (a malformed or oversized frame is damage, not an API change).
func decodeAnomaly(derr error) string {
	var de *DecodeError
	if !errors.As(derr, &de) {
		return ""
	}
	switch de.Reason {
	case ReasonUnknownChannel, "unknown_event", "unknown_message", "unknown_type":
		return AnomalyUnknownMessage
	case ReasonBadField:
		return AnomalyBadField
	}
	return ""
}

// anomaly counts a protocol anomaly of kind and logs the first of each kind.
func (r *router) anomaly(kind string, fields ...zap.Field) {
	if r.st.anomaly(kind) {
		r.log.Warn("exchange protocol anomaly (logged once per kind; counted in etl_protocol_anomalies_total)",
			append([]zap.Field{zap.String("kind", kind)}, fields...)...)
	}
}

// exchangeAnomaly classifies an exchange's error and notes a refused stream.
func (r *router) exchangeAnomaly(ee *ExchangeError) {
	if ee.UnknownCode {
		r.anomaly(AnomalyUnknownErrorCode, zap.String("code", ee.Code), zap.String("message", truncate(ee.Message, 300)))
	}
	if ee.Permanent && (ee.Stream.Symbol != "" || ee.Stream.Type != "") && r.isWantedSymbol(ee.Stream) {
		r.st.refused(ee)
		r.anomaly(AnomalySubscriptionRefused, zap.String("stream", ee.Stream.String()), zap.String("code", ee.Code),
			zap.String("message", truncate(ee.Message, 300)))
	}
}

// isWantedSymbol reports whether a wanted stream has s's symbol (an
// exchange's refusal does not always say the data type) and, when s has
// no symbol (a refusal of every stream of a data type, such as a refused
// signature for an authenticated channel), s's data type.
func (r *router) isWantedSymbol(s market.Stream) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.wanted {
		if s.Symbol != "" && w.Symbol == s.Symbol || s.Symbol == "" && w.Type == s.Type {
			return true
		}
	}
	return false
}

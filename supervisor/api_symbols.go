package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"marketetl/market"
)

// symbolBody is POST /api/collectors/{name}/symbols' body.
type symbolBody struct {
	Symbol market.Symbol `json:"symbol"`
}

// addSymbol adds one symbol to a collector without restarting it (the
// seed's add_symbol).
func (a *API) addSymbol(w http.ResponseWriter, r *http.Request) {
	var body symbolBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(&body)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		_, err = io.Copy(io.Discard, r.Body)
	}
	if err == nil && normalSymbol(body.Symbol) == "" {
		err = errors.New(`"symbol" is missing`)
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, `body: want {"symbol": "BTC-USDT"}: `+a.red.err(err))
		return
	}
	a.changeSymbol(w, r, "symbol added", body.Symbol, a.m.AddSymbol)
}

// removeSymbol removes one symbol from a collector without restarting it
// (the seed's remove_symbol).
func (a *API) removeSymbol(w http.ResponseWriter, r *http.Request) {
	a.changeSymbol(w, r, "symbol removed", market.Symbol(r.PathValue("symbol")), a.m.RemoveSymbol)
}

func (a *API) changeSymbol(w http.ResponseWriter, r *http.Request, msg string, sym market.Symbol,
	op func(ctx context.Context, name string, sym market.Symbol) error) {
	name := r.PathValue("name")
	if err := op(r.Context(), name, sym); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, msg+": "+string(normalSymbol(sym)), name)
	rep, err := a.m.Status(name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

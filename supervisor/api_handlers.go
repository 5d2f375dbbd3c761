package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"marketetl/market"
	"marketetl/spec"
)

// errorBody is every error answer: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

// messageBody answers an accepted mutation: {"message": "...", "collector": "..."}.
type messageBody struct {
	Message   string `json:"message"`
	Collector string `json:"collector,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client has gone; nothing to do
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// fail answers err with the status code its kind calls for.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrSymbolNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrDisabled), errors.Is(err, ErrSymbolExists):
		code = http.StatusConflict
	case errors.Is(err, ErrInvalidSpec):
		code = http.StatusBadRequest
	case errors.Is(err, ErrStopped):
		code = http.StatusServiceUnavailable
	}
	msg := a.red.err(err)
	if code == http.StatusInternalServerError {
		a.log.Error("admin request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("error", msg))
	}
	writeError(w, code, msg)
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is /readyz's answer.
type readiness struct {
	Ready    bool   `json:"ready"`
	Database string `json:"database"`
	// HealthyCollectors counts the enabled collectors that are healthy.
	HealthyCollectors int `json:"healthy_collectors"`
	EnabledCollectors int `json:"enabled_collectors"`
	// Problems says what is not ready.
	Problems []string `json:"problems"`
}

// readyz is ready when the database answered the last refresh of the read
// cache and at least one collector is healthy. It queries nothing.
func (a *API) readyz(w http.ResponseWriter, _ *http.Request) {
	db := a.cfg.Reads.State()
	res := readiness{Database: db.State, Problems: []string{}}
	switch db.State {
	case DatabaseUnreachable:
		res.Problems = append(res.Problems, "database unreachable: "+db.Error)
	case DatabaseUnknown:
		res.Problems = append(res.Problems, "database not checked yet")
	}
	if !a.m.running() {
		res.Problems = append(res.Problems, "supervisor is not running")
	}
	var unhealthy []string
	for _, h := range a.m.Healths() {
		if !h.ShouldBeRunning {
			continue
		}
		res.EnabledCollectors++
		if h.IsHealthy {
			res.HealthyCollectors++
		} else {
			unhealthy = append(unhealthy, h.Name+" ("+strings.Join(h.Issues, "; ")+")")
		}
	}
	switch {
	case res.EnabledCollectors == 0:
		res.Problems = append(res.Problems, "no collector is enabled")
	case res.HealthyCollectors == 0:
		res.Problems = append(res.Problems, "no collector is healthy: "+strings.Join(unhealthy, ", "))
	}
	res.Ready = len(res.Problems) == 0
	code := http.StatusOK
	if !res.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, res)
}

// statusAnswer is GET /api/status' answer: the manager's report and the
// other parts' health.
type statusAnswer struct {
	Report
	// Database is the read cache's state: no request queries the database.
	Database   DatabaseState  `json:"database"`
	Components map[string]any `json:"components,omitempty"`
}

func (a *API) status(w http.ResponseWriter, _ *http.Request) {
	ans := statusAnswer{Report: a.m.Report(), Database: a.cfg.Reads.State()}
	if a.cfg.Components != nil {
		ans.Components = a.cfg.Components()
	}
	writeJSON(w, http.StatusOK, ans)
}

// collectorList is GET /api/collectors' answer.
type collectorList struct {
	Count      int               `json:"count"`
	Collectors []CollectorReport `json:"collectors"`
}

// list answers every collector's status; ?status=running (or restarting,
// failed, stopped) keeps those in that state.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	want := State(r.URL.Query().Get("status"))
	switch want {
	case "", StateRunning, StateRestarting, StateFailed, StateStopped:
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status %q: want running, restarting, failed or stopped", string(want)))
		return
	}
	out := collectorList{Collectors: []CollectorReport{}}
	for _, c := range a.m.Statuses() {
		if want == "" || c.Status == want {
			out.Collectors = append(out.Collectors, c)
		}
	}
	out.Count = len(out.Collectors)
	writeJSON(w, http.StatusOK, out)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	rep, err := a.m.Status(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	rep, err := a.m.Health(r.PathValue("name"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// add reads a collector in the YAML file's shape, as JSON.
func (a *API) add(w http.ResponseWriter, r *http.Request) {
	var spec spec.Collector
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(&spec)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		// Drain to EOF so that an oversized trailing body is noticed.
		_, err = io.Copy(io.Discard, r.Body)
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "body: want one collector as JSON, in the YAML file's shape: "+a.red.err(err))
		return
	}
	normalise(&spec)
	if err := a.m.Add(r.Context(), spec); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "collector added", spec.Name)
	rep, err := a.m.Status(spec.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/collectors/"+spec.Name)
	writeJSON(w, http.StatusCreated, rep)
}

// normalise lower-cases the exchange and upper-cases symbols, as the YAML
// reader does.
func normalise(s *spec.Collector) {
	s.Exchange = market.Exchange(strings.ToLower(strings.TrimSpace(string(s.Exchange))))
	for i, sym := range s.Symbols {
		s.Symbols[i] = market.Symbol(strings.ToUpper(strings.TrimSpace(string(sym))))
	}
}

func (a *API) remove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.m.Remove(r.Context(), name); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "collector removed", name)
	writeJSON(w, http.StatusOK, messageBody{Message: "collector removed", Collector: name})
}

func (a *API) restart(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.m.Restart(name); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "collector restart requested", name)
	writeJSON(w, http.StatusAccepted, messageBody{Message: "restart requested", Collector: name})
}

func (a *API) enable(w http.ResponseWriter, r *http.Request)  { a.setEnabled(w, r, true) }
func (a *API) disable(w http.ResponseWriter, r *http.Request) { a.setEnabled(w, r, false) }

func (a *API) setEnabled(w http.ResponseWriter, r *http.Request, on bool) {
	name := r.PathValue("name")
	op, msg := a.m.Disable, "collector disabled"
	if on {
		op, msg = a.m.Enable, "collector enabled"
	}
	if err := op(r.Context(), name); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, msg, name)
	rep, err := a.m.Status(name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// restartedList is POST /api/restart-all's answer.
type restartedList struct {
	Message   string   `json:"message"`
	Restarted []string `json:"restarted"`
}

func (a *API) restartAll(w http.ResponseWriter, r *http.Request) {
	names, err := a.m.RestartAll()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if names == nil {
		names = []string{}
	}
	a.audit(r, "restart of all collectors requested", "")
	writeJSON(w, http.StatusAccepted, restartedList{Message: "restart requested", Restarted: names})
}

// audit logs a mutation made through the API.
func (a *API) audit(r *http.Request, msg, name string) {
	fields := []zap.Field{zap.String("remote", r.RemoteAddr)}
	if name != "" {
		fields = append(fields, zap.String("collector", name))
	}
	a.log.Info("admin: "+msg, fields...)
}

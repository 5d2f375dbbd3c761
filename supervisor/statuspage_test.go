package supervisor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"marketetl/market"
	"marketetl/spec"
)

// TestStatusPageServesOneSelfContainedFile checks the page's headers and
// that it loads nothing from elsewhere.
func TestStatusPageServesOneSelfContainedFile(t *testing.T) {
	m, err := New(Config{}, newFactory().build, newRegistry(), &fakeHistory{})
	if err != nil {
		t.Fatal(err)
	}
	reads, _ := newReads(t)
	api, err := NewAPI(APIConfig{Reads: reads, Gatherer: prometheus.NewRegistry()}, m)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/": 200, "/nothing": 404} {
		req, _ := http.NewRequest("GET", path, nil)
		req.Host = "127.0.0.1:8080" // the default address's
		rec := httptest.NewRecorder()
		api.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req.Host = "127.0.0.1:8080"
	rec := httptest.NewRecorder()
	api.Handler().ServeHTTP(rec, req)
	body := rec.Body.String()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q: want the inline script by hash and requests to this server only", csp)
	}
	for _, external := range []string{"http://", "https://", "src=\"/", "href=\"/"} {
		if strings.Contains(body, external) {
			t.Errorf("the page refers to %q: it must work offline, without other assets", external)
		}
	}
}

// chromium returns the path of a Chromium from the distribution's
// packages, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("Chromium is not installed (Debian: apt-get install -y chromium); the browser test of the status page is skipped")
	return ""
}

// TestStatusPageInBrowser loads the status page in headless Chromium
// against a running manager and API, and checks what a person sees: the
// collectors with their states, the failed one highlighted, the page
// following a change made through the API, and buttons that act only with
// the token. STATUS_PAGE_SCREENSHOT=path saves a screenshot.
func TestStatusPageInBrowser(t *testing.T) {
	chrome := chromium(t)
	f := newFactory()
	f.set("binance-main", failing(errBadConfig))
	m, err := New(Config{HealthCheckInterval: 100 * time.Millisecond, GlobalHealthCheckInterval: 100 * time.Millisecond,
		ReconnectDelay: 10 * time.Millisecond, ReconnectDelayMax: 20 * time.Millisecond}, f.build, newRegistry(), &fakeHistory{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	okx := newSpec("okx-main", withSymbols("BTC-USDT", "ETH-USDT"))
	bin := newSpec("binance-main")
	bin.Exchange = market.Binance
	if _, err := m.Reconcile(ctx, []spec.Collector{okx, bin}); err != nil {
		t.Fatal(err)
	}
	reads, _ := newReads(t)
	api, err := NewAPI(APIConfig{Token: testToken, Reads: reads, Gatherer: prometheus.NewRegistry()}, m)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	errs := make(chan error, 2)
	go func() { errs <- m.Run(runCtx) }()
	go func() { errs <- api.Serve(runCtx, ln) }()
	defer func() {
		stop()
		for range 2 {
			if err := <-errs; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("run: %v", err)
			}
		}
	}()
	base := "http://" + ln.Addr().String()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1400, 900), chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	row := func(name string) string { return `document.querySelector('tr[data-collector="` + name + `"]')` }
	// waitFor polls the DOM until the expression is true (or ctx ends).
	waitFor := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			html, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, html)
		}
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/?refresh=200")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	waitFor("both collectors listed", row("okx-main")+` && `+row("binance-main"))
	waitFor("okx-main running with fresh streams", row("okx-main")+`.dataset.status === "running" && `+
		row("okx-main")+`.innerText.includes("trade ETH-USDT")`)
	waitFor("binance-main failed", row("binance-main")+`.dataset.status === "failed"`)

	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	text := eval(row("binance-main") + `.innerText`)
	failedBg := eval(`getComputedStyle(` + row("binance-main") + `).backgroundColor`)
	runningBg := eval(`getComputedStyle(` + row("okx-main") + `).backgroundColor`)
	if !strings.Contains(text, "failed") || !strings.Contains(text, "unknown instrument") {
		t.Errorf("the failed collector's row shows %q: want its state and its error", text)
	}
	if failedBg == runningBg {
		t.Errorf("the failed collector is not highlighted: background %s, same as a running one", failedBg)
	}
	// Without the token the page's buttons are disabled.
	if eval(`String(document.querySelector('button[data-action="disable"][data-collector="okx-main"]').disabled)`) != "true" {
		t.Error("the disable button is enabled without a token")
	}

	// A change made elsewhere (the API) shows up without reloading.
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/collectors/okx-main/disable", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("disable through the API: %d", resp.StatusCode)
	}
	waitFor("okx-main shown stopped", row("okx-main")+`.dataset.status === "stopped"`)

	// With the token typed in, the page's Enable button acts.
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("token"), testToken)); err != nil {
		t.Fatal(err)
	}
	enable := `button[data-action="enable"][data-collector="okx-main"]`
	waitFor("the enable button usable", `document.querySelector('`+enable+`') && !document.querySelector('`+enable+`').disabled`)
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(enable))); err != nil {
		t.Fatal(err)
	}
	waitFor("okx-main running again", row("okx-main")+`.dataset.status === "running"`)

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 {
		t.Errorf("screenshot of %d bytes", len(png))
	}
	if path := os.Getenv("STATUS_PAGE_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cancelBrowser()
}

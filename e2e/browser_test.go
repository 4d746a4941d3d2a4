package e2e

// These tests drive the real page in headless Chromium with chromedp. Each
// test starts its own browser (with a fresh profile) and its own server, so
// tests stay independent; a browser starts in well under a second.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browserTestTimeout bounds a whole browser test; each step also has its own
// waitTimeout so a failure names the step that hung.
const browserTestTimeout = 60 * time.Second

// chromiumPath is the browser the tests drive: $TERTULIA_CHROMIUM, or the
// Debian package's /usr/bin/chromium.
func chromiumPath(t testing.TB) string {
	t.Helper()
	path := os.Getenv("TERTULIA_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	resolved, err := exec.LookPath(path)
	if err != nil {
		t.Fatalf("Chromium not found at %s (%v): run scripts/test, which installs it (or set TERTULIA_CHROMIUM)", path, err)
	}
	return resolved
}

// browserTab is one browser tab plus everything its console said.
type browserTab struct {
	t   testing.TB
	ctx context.Context // the tab, bounded by browserTestTimeout

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	wake    chan struct{}
	markers int
}

// newPage starts a headless Chromium for this test and opens one tab. The
// browser, its temporary profile and the tab go away when the test ends.
func newPage(t testing.TB) *browserTab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// No UserDataDir option: chromedp then passes a fresh
		// --user-data-dir under os.TempDir and, unlike a directory we
		// would pass, kills leftover Chromium children before removing it.
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	// The first Do starts the browser; its context must carry no deadline
	// because the browser lives as long as that context.
	if err := chromedp.Do(tabCtx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("starting Chromium: %v (run scripts/test, which installs it)", err)
	}
	p := &browserTab{t: t, wake: make(chan struct{}, 1)}
	messages := chromedp.Console(tabCtx) // subscribed from here on
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}()
	ctx, cancel := context.WithTimeout(tabCtx, browserTestTimeout)
	p.ctx = ctx
	t.Cleanup(func() {
		cancel()
		cancelTab()
		cancelAlloc() // waits for the browser to exit and its profile to go
		<-collected
	})
	return p
}

// do runs steps, failing the test with what when they fail or take longer
// than waitTimeout.
func (p *browserTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *browserTab, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// waitText waits until the textContent of the element with the given id
// contains every want. It is re-checked on each DOM mutation.
func (p *browserTab) waitText(id string, want ...string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](
		`(id, want) => { const e = document.getElementById(id); return !!e && want.every(w => e.textContent.includes(w)); }`,
		chromedp.WithPollingArgs(id, want),
		chromedp.WithPollingMutation(),
		chromedp.WithPollingTimeout(waitTimeout),
	))
	if err != nil {
		got := eval[string](p, `(document.getElementById(`+jsString(id)+`) || {textContent: "<no element>"}).textContent`)
		p.t.Fatalf("#%s never contained %q (%v); its text is:\n%s", id, want, err, got)
	}
}

// join opens the page and logs in as nick, without waiting for the outcome.
func (p *browserTab) join(httpAddr, nick string) {
	p.t.Helper()
	p.do("open the page",
		chromedp.Navigate("http://"+httpAddr+"/"),
		chromedp.WaitVisible(chromedp.ID("nick")),
	)
	p.submitNick(nick)
}

// submitNick types nick in the form and submits it. It types with key
// events, not chromedp.SendKeys: SendKeys reads the node's attributes
// without the node lock, which the race detector reports when the page
// changed an attribute of that input just before.
func (p *browserTab) submitNick(nick string) {
	p.t.Helper()
	p.do("log in as "+nick,
		chromedp.WaitEnabled(chromedp.ID("join")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("nick").value = ""`),
		chromedp.Focus(chromedp.ID("nick")),
		chromedp.KeyEvent(nick),
		chromedp.Click(chromedp.ID("join")),
	)
}

// waitChat waits for the chat view of a welcomed nick.
func (p *browserTab) waitChat(nick string) {
	p.t.Helper()
	p.do("wait for the chat view", chromedp.WaitVisible(chromedp.ID("chat-view")), chromedp.WaitVisible(chromedp.ID("input")))
	p.waitText("me-nick", nick)
}

// say types text in the composer and presses Enter.
func (p *browserTab) say(text string) {
	p.t.Helper()
	p.enter(text)
}

// waitConsole waits until the console holds a message that ok accepts and
// returns the index of the first one.
func (p *browserTab) waitConsole(what string, ok func(chromedp.ConsoleMessage) bool) int {
	p.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		p.mu.Lock()
		for i, m := range p.console {
			if ok(m) {
				p.mu.Unlock()
				return i
			}
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-timer.C:
			p.t.Fatalf("console never showed %s; it has:\n%s", what, p.consoleText(-1))
		}
	}
}

func (p *browserTab) consoleText(upTo int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	msgs := p.console
	if upTo >= 0 {
		msgs = msgs[:upTo]
	}
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "  [%s %s] %s:%d %s\n", m.Type, m.Source, m.URL, m.Line+1, m.Text)
	}
	return b.String()
}

func isCSPViolation(m chromedp.ConsoleMessage) bool {
	return strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy")
}

func isConsoleError(m chromedp.ConsoleMessage) bool {
	return m.Type == chromedp.ConsoleError || m.IsException() || isCSPViolation(m)
}

// consoleErrors returns the errors, exceptions and CSP violations the page
// logged so far. A console.debug marker makes it deterministic: the console
// stream is ordered, so once the marker arrives everything the page logged
// before it has arrived too.
func (p *browserTab) consoleErrors() []chromedp.ConsoleMessage {
	p.t.Helper()
	p.mu.Lock()
	p.markers++
	marker := fmt.Sprintf("e2e-console-marker-%d", p.markers)
	p.mu.Unlock()
	p.do("log a console marker", chromedp.Evaluate[chromedp.Void](`console.debug(`+jsString(marker)+`)`))
	end := p.waitConsole("marker "+marker, func(m chromedp.ConsoleMessage) bool { return m.Text == marker })
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []chromedp.ConsoleMessage
	for _, m := range p.console[:end] {
		if isConsoleError(m) {
			errs = append(errs, m)
		}
	}
	return errs
}

func (p *browserTab) assertNoConsoleErrors() {
	p.t.Helper()
	if errs := p.consoleErrors(); len(errs) > 0 {
		p.t.Errorf("the page logged %d console error(s)/CSP violation(s); console:\n%s", len(errs), p.consoleText(-1))
	}
}

// --- tests ------------------------------------------------------------------

func TestBrowserChat(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")

	p := newPage(t)
	p.join(srv.HTTPAddr, "alice")
	p.waitChat("alice")
	bob.expect("#lobby --> alice joined (web)")

	p.waitText("members", "alice", "bob")

	bob.send("hello from ssh")
	p.waitText("messages", "hello from ssh")

	p.say("hello from the browser")
	bob.expect("#lobby <alice> hello from the browser")
	p.waitText("messages", "hello from the browser")
	if v := eval[string](p, `document.getElementById("input").value`); v != "" {
		t.Errorf("composer not cleared after sending: %q", v)
	}
	p.assertNoConsoleErrors()
}

func TestBrowserShowsMarkupAsText(t *testing.T) {
	const markup = `<img src=x onerror="document.title='pwned'"><b>bold</b>`
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")

	p := newPage(t)
	p.join(srv.HTTPAddr, "alice")
	p.waitChat("alice")
	bob.expect("#lobby --> alice joined (web)")

	bob.send(markup)
	bob.expect("<bob> " + markup)
	p.waitText("messages", markup)

	if n := eval[int](p, `document.querySelectorAll("#messages img, #messages b").length`); n != 0 {
		html := eval[string](p, `document.getElementById("messages").innerHTML`)
		t.Errorf("the message was rendered as HTML: %d img/b elements in #messages:\n%s", n, html)
	}
	// The console marker round trip lets a (wrongly) injected image fail to
	// load and run its handler before the title is read.
	p.assertNoConsoleErrors()
	if title := eval[string](p, `document.title`); strings.Contains(title, "pwned") {
		t.Errorf("markup from a message ran script: document.title = %q", title)
	}
}

func TestBrowserNickTaken(t *testing.T) {
	srv := startServer(t)
	carol := newLineClient(t, srv.SSHAddr, "carol")
	carol.expect("welcome carol")

	p := newPage(t)
	p.join(srv.HTTPAddr, "carol")
	p.waitText("login-error", "in use")
	p.do("the login form stays up", chromedp.WaitVisible(chromedp.ID("login-view")))
	if hidden := eval[bool](p, `document.getElementById("chat-view").hidden`); !hidden {
		t.Fatal("chat view shown although the nick was refused")
	}

	p.submitNick("carol2")
	p.waitChat("carol2")
	carol.expect("#lobby --> carol2 joined (web)")
	if msg := eval[string](p, `document.getElementById("login-error").textContent`); msg != "" {
		t.Errorf("login error still set after joining: %q", msg)
	}
	p.assertNoConsoleErrors()
}

func TestBrowserSecurityHeadersAndCleanConsole(t *testing.T) {
	srv := startServer(t)

	client := &http.Client{Timeout: waitTimeout}
	resp, err := client.Get("http://" + srv.HTTPAddr + "/")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if csp == "" {
		t.Error("GET /: no Content-Security-Policy header")
	} else if !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET /: Content-Security-Policy %q lacks script-src 'self'", csp)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); !strings.EqualFold(got, "nosniff") {
		t.Errorf("GET /: X-Content-Type-Options = %q, want nosniff", got)
	}
	if xfo := resp.Header.Get("X-Frame-Options"); !strings.EqualFold(xfo, "DENY") && !strings.Contains(csp, "frame-ancestors") {
		t.Errorf("GET /: neither X-Frame-Options DENY (got %q) nor a CSP frame-ancestors directive", xfo)
	}

	p := newPage(t)
	// Count violations from the page's own point of view too. A script
	// added through the protocol is not subject to the page's CSP.
	p.do("install a securitypolicyviolation recorder", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__cspViolations = [];
				document.addEventListener("securitypolicyviolation", e => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));`,
		})
		return err
	}))

	p.join(srv.HTTPAddr, "alice")
	p.waitChat("alice")
	p.say("hello")
	p.waitText("messages", "hello")

	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("the page logged %d console error(s)/CSP violation(s) while loading and chatting; console:\n%s", len(errs), p.consoleText(-1))
	}
	if v := eval[[]string](p, `window.__cspViolations`); len(v) != 0 {
		t.Errorf("CSP violations while loading and chatting: %q", v)
	}

	// Control: an inline script is refused, and the listeners above see it,
	// so the checks above can fail.
	p.do("inject an inline script", chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.createElement("script"); s.textContent = "window.__inlineRan = true"; document.head.appendChild(s); })()`))
	p.waitConsole("the CSP violation of the injected inline script", isCSPViolation)
	if ran := eval[bool](p, `window.__inlineRan === true`); ran {
		t.Error("an inline script ran despite the CSP")
	}
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.__cspViolations.length > 0`,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(waitTimeout))); err != nil {
		t.Errorf("the securitypolicyviolation recorder never saw the injected inline script: %v", err)
	}
}

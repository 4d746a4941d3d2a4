package e2e

// Browser tests for signing in with a /weblogin code: the page driven in
// headless Chromium (see browser_test.go) against a whole server, with an
// SSH client holding the key on the other side.

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// open navigates to the page at path (e.g. "/?code=...") without typing
// anything.
func (p *browserTab) open(httpAddr, path string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate("http://"+httpAddr+path))
}

// waitGuestForm waits until the page offers the nickname and code forms,
// and not the signed-in card.
func (p *browserTab) waitGuestForm() {
	p.t.Helper()
	p.do("wait for the guest forms", chromedp.WaitVisible(chromedp.ID("nick")), chromedp.WaitVisible(chromedp.ID("login-code")))
	if hidden := eval[bool](p, `document.getElementById("session-view").hidden`); !hidden {
		p.t.Fatal("the signed-in card is shown along with the guest forms")
	}
}

// submitCode types code in the sign-in form and submits it (key events:
// see submitNick).
func (p *browserTab) submitCode(code string) {
	p.t.Helper()
	p.do("sign in with code "+code,
		chromedp.WaitEnabled(chromedp.ID("login-submit")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("login-code").value = ""`),
		chromedp.Focus(chromedp.ID("login-code")),
		chromedp.KeyEvent(code),
		chromedp.Click(chromedp.ID("login-submit")),
	)
}

// assertOnlyRefusedCodeErrors is assertNoConsoleErrors, except that
// Chromium logs every 4xx answer to a fetch as a network error, and 401 is
// how POST /login refuses a used code: that one is expected.
func (p *browserTab) assertOnlyRefusedCodeErrors() {
	p.t.Helper()
	for _, m := range p.consoleErrors() {
		if m.Source == "network" && strings.HasSuffix(m.URL, "/login") && strings.Contains(m.Text, "401") {
			continue
		}
		p.t.Errorf("the page logged a console error or CSP violation; console:\n%s", p.consoleText(-1))
		return
	}
}

func TestBrowserSignInWithCode(t *testing.T) {
	srv := startServer(t)
	key := newSigner(t)
	ssh := newLineClient(t, srv.SSHAddr, "alice", keyAuth(key))
	ssh.expect("welcome alice")
	ssh.send("/register")
	ssh.expect("alice is now registered to your key")
	code := ssh.webLoginCode()

	// The /weblogin link signs the page in at once and leaves the address
	// bar without the code.
	p := newPage(t)
	p.open(srv.HTTPAddr, "/?code="+url.QueryEscape(code))
	p.do("wait for the signed-in card", chromedp.WaitVisible(chromedp.ID("session-view")), chromedp.WaitVisible(chromedp.ID("session-join")))
	p.waitText("session-view", "Signed in as", "alice")
	if loc := eval[string](p, `location.href`); loc != "http://"+srv.HTTPAddr+"/" {
		t.Errorf("the address still holds the code: %s", loc)
	}
	if visible := eval[bool](p, `!document.getElementById("code-form").hidden`); visible {
		t.Error("the code form is still shown once signed in")
	}

	p.do("join as the key's nick", chromedp.WaitEnabled(chromedp.ID("session-join")), chromedp.Click(chromedp.ID("session-join")))
	// The page joins beside the SSH session, as the same person: alice is
	// listed once, marked registered.
	p.waitChat("alice")
	p.waitPage("alice listed once, marked registered",
		`() => {
			const items = Array.from(document.querySelectorAll("#member-list .member")).filter(li => li.querySelector(".nick").textContent === "alice");
			return items.length === 1 && !!items[0].querySelector('.reg[title="registered"]');
		}`)

	// A second browser: the used code is refused, and a guest cannot take
	// the registered nick.
	q := newPage(t)
	q.open(srv.HTTPAddr, "/")
	q.waitGuestForm()
	q.submitCode(code)
	q.waitText("login-code-error", "not valid")
	if visible := eval[bool](q, `!document.getElementById("session-view").hidden`); visible {
		t.Error("a used code signed the second browser in")
	}
	q.submitNick("alice")
	q.waitText("login-error", "This nick is registered. Sign in with a code from /weblogin in your SSH session.")
	if hidden := eval[bool](q, `document.getElementById("chat-view").hidden`); !hidden {
		t.Error("chat view shown although the nick is registered")
	}
	q.assertOnlyRefusedCodeErrors()

	// /logout-all in the SSH session signs the page out, now and on reload.
	ssh.send("/logout-all")
	ssh.expect("Ended 1 web session(s).")
	p.waitText("messages", "This browser was signed out.")
	p.do("wait for the offline bar", chromedp.WaitVisible(chromedp.ID("offline-bar")))
	p.waitText("offline-text", "signed out")
	// Her SSH session stays: nobody saw her leave.
	ssh.send("/whois alice")
	ssh.expectFunc("whois without a second device", func(l string) bool {
		if strings.Contains(l, "alice left") || strings.Contains(l, "devices:") {
			t.Fatalf("the page's sign-out showed as %q", l)
		}
		return strings.Contains(l, "registered, key")
	})
	p.assertNoConsoleErrors()

	p.open(srv.HTTPAddr, "/")
	p.waitGuestForm()
	p.assertNoConsoleErrors()
}

// Signing out from the signed-in card ends the session: the page shows the
// guest forms, and a reload does too.
func TestBrowserSignOut(t *testing.T) {
	srv := startServer(t)
	key := newSigner(t)
	ssh := newLineClient(t, srv.SSHAddr, "bob", keyAuth(key))
	ssh.expect("welcome bob")
	ssh.send("/register")
	ssh.expect("bob is now registered to your key")
	code := ssh.webLoginCode()

	p := newPage(t)
	p.open(srv.HTTPAddr, "/")
	p.waitGuestForm()
	p.submitCode(code)
	p.waitText("session-view", "Signed in as", "bob")

	// bob is in use by the key's own SSH session: the page joins as bob
	// beside it.
	p.do("join beside the SSH session", chromedp.WaitEnabled(chromedp.ID("session-join")), chromedp.Click(chromedp.ID("session-join")))
	p.waitChat("bob")
	p.say("typed on the page")
	ssh.expect("#lobby <bob> typed on the page")

	// Sign out from the chat header: the SSH session stays, and nobody saw
	// bob leave.
	p.do("sign out", chromedp.WaitVisible(chromedp.ID("chat-sign-out")), chromedp.Click(chromedp.ID("chat-sign-out")))
	p.waitGuestForm()
	ssh.send("/sessions")
	ssh.expectFunc("no web session left", func(l string) bool {
		if strings.Contains(l, "bob left") {
			t.Fatalf("signing the page out showed %q", l)
		}
		return strings.Contains(l, "0 web session(s) for your key")
	})
	p.open(srv.HTTPAddr, "/")
	p.waitGuestForm()
	p.assertNoConsoleErrors()
}

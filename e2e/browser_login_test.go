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
	ssh.send("/nick alice-ssh") // free the nick for the browser
	ssh.expect("alice is now known as alice-ssh")
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
	p.waitChat("alice")
	ssh.expect("#lobby --> alice joined (web)")
	p.waitPage("alice marked registered, alice-ssh not",
		`() => {
			const item = nick => Array.from(document.querySelectorAll("#member-list .member")).find(li => li.querySelector(".nick").textContent === nick);
			const a = item("alice"), s = item("alice-ssh");
			return !!a && !!s && !!a.querySelector('.reg[title="registered"]') && !s.querySelector(".reg");
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
	ssh.expect("#lobby <-- alice left")
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

	// bob is in use by the SSH session: the page says how to free it.
	p.do("join while the nick is in use", chromedp.WaitEnabled(chromedp.ID("session-join")), chromedp.Click(chromedp.ID("session-join")))
	p.waitText("session-error", "already in use", "/nick")
	ssh.send("/nick bob-ssh")
	ssh.expect("bob is now known as bob-ssh")
	p.do("join again", chromedp.WaitEnabled(chromedp.ID("session-join")), chromedp.Click(chromedp.ID("session-join")))
	p.waitChat("bob")
	ssh.expect("#lobby --> bob joined (web)")

	// Sign out from the chat header.
	p.do("sign out", chromedp.WaitVisible(chromedp.ID("chat-sign-out")), chromedp.Click(chromedp.ID("chat-sign-out")))
	p.waitGuestForm()
	ssh.expect("#lobby <-- bob left")
	ssh.send("/sessions")
	ssh.expect("0 web session(s) for your key")
	p.open(srv.HTTPAddr, "/")
	p.waitGuestForm()
	p.assertNoConsoleErrors()
}

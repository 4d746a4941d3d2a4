package e2e

// The page and messages that wait: a signed-in browser shows the private
// messages kept while its user was offline, marked as such, and follows
// the timestamp setting changed on another device of the key.

import (
	"net/url"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestBrowserShowsMissedMessagesAndFollowsTheTimestampSetting(t *testing.T) {
	srv := startServer(t)
	bob := joinWS(t, srv.HTTPAddr, "bob")
	key := newSigner(t)
	ssh := newLineClient(t, srv.SSHAddr, "alice", keyAuth(key))
	ssh.expect("welcome alice")
	ssh.register()
	code := ssh.webLoginCode()
	leaveAndWait(t, ssh, "alice", bob)

	bob.say("/msg alice psst, while you were out")
	bob.expect("the notice", isNotice("alice is offline"))

	p := newPage(t)
	p.open(srv.HTTPAddr, "/?code="+url.QueryEscape(code))
	p.do("join as the key's nick", chromedp.WaitVisible(chromedp.ID("session-join")), chromedp.WaitEnabled(chromedp.ID("session-join")), chromedp.Click(chromedp.ID("session-join")))
	p.waitChat("alice")
	p.waitText("messages", "1 private message while you were away:")
	p.clickPrivateTab("bob")
	p.waitPage("the missed message, marked",
		`() => Array.from(document.querySelectorAll("#messages .line.private-msg.missed")).some(li =>
			li.textContent.includes("psst, while you were out") && li.querySelector(".missed-tag").textContent === "while you were away")`)

	// The terminal, another device of the key, turns dates on: the page
	// shows them at once, on the lines it already holds too.
	term := newLineClient(t, srv.SSHAddr, "alice", keyAuth(key))
	term.expect("welcome alice")
	term.send("/timestamp datetime")
	term.expect("-!- Timestamps: datetime.")
	p.waitPage("dates before the lines", `() => {
		const ts = document.querySelector("#messages .line .ts");
		return document.documentElement.dataset.timestamp === "datetime" && !!ts && /^\d{4}-\d\d-\d\d \d\d:\d\d$/.test(ts.textContent); }`)
	term.send("/timestamp off")
	p.waitPage("no times shown", `() => {
		const ts = document.querySelector("#messages .line .ts");
		return !!ts && getComputedStyle(ts).display === "none"; }`)
	if got := eval[string](p, `document.querySelector("#messages .line .ts").textContent`); !regexp.MustCompile(`^\d\d:\d\d$`).MatchString(got) {
		t.Errorf("a hidden time still reads %q, want HH:MM for its title", got)
	}
	p.assertNoConsoleErrors()
}

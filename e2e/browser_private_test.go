package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tertulia/tertulia/internal/app"
)

// waitFailedWith waits until text is shown as one of our lines refused by
// the server, with reason and its Retry and Edit buttons.
func (p *browserTab) waitFailedWith(text, reason string) {
	p.t.Helper()
	p.waitPage("the failed line "+text,
		`(text, reason) => Array.from(document.querySelectorAll("#messages .line.failed")).some(e =>
			e.querySelector(".text").textContent === text && e.textContent.includes(reason) &&
			!!e.querySelector('button[data-act="retry"]') && !!e.querySelector('button[data-act="edit"]'))`, text, reason)
}

// A private message to a nick that is not connected shows, in its
// conversation, as failed with the server's reason, its text back in the
// composer; once the nick is there, Retry delivers it, once.
func TestBrowserPrivateToAnAbsentNickFailsKeepingItsText(t *testing.T) {
	srv := startServer(t)
	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")

	const text = "are you there"
	p.enter("/msg ghost " + text)
	p.waitPrivateTab("ghost")
	p.waitFailedWith(text, "ghost is not connected")
	if v := p.composerValue(); v != text {
		t.Errorf("the composer holds %q, want the refused private message %q", v, text)
	}
	p.clearComposer()

	ghost := newLineClient(t, srv.SSHAddr, "ghost")
	ghost.expect("welcome ghost")
	p.do("retry the private message", chromedp.Click(chromedp.CSS(`#messages .line.failed button[data-act="retry"]`)))
	ghost.expect("[pm] alice -> ghost: " + text)
	p.waitConfirmedOnce(text)
	p.enter("second")
	if n := countLinesUntil(ghost, "[pm] alice -> ghost: "+text, "[pm] alice -> ghost: second"); n != 0 {
		t.Errorf("ghost got the retried message %d more times", n)
	}
	p.assertNoConsoleErrors()
}

// A private message typed while the network is stalled waits, shown
// pending in its conversation, and is delivered exactly once after the
// page reconnects by itself (sent again with the same cid), also when it
// had reached its recipient and only its echo was lost.
func TestBrowserPrivateTypedDuringAStallIsDeliveredOnce(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Web.PingInterval = 500 * time.Millisecond })
	proxy := newNetProxy(t, srv.HTTPAddr)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")

	p := newPage(t)
	p.loginAt("http://"+proxy.Addr()+"/?heartbeat=1000", "alice")
	bob.expect("#lobby --> alice joined (web)")
	bob.send("/msg alice hello")
	p.waitPage("a private tab for bob", `() => !!document.querySelector('#rooms .pm-tab[data-pm="bob"]')`)
	p.clickPrivateTab("bob")

	proxy.Stall()
	const stalled = "typed during the stall"
	p.enter(stalled)
	p.waitPending(stalled)
	p.waitNotOnline()
	bob.expect("#lobby <-- alice left")

	proxy.Resume()
	p.waitOnline()
	bob.expect("[pm] alice -> bob: " + stalled)
	p.waitPrivateTab("bob")
	p.waitConfirmedOnce(stalled)
	p.enter("after the stall")
	if n := countLinesUntil(bob, "[pm] alice -> bob: "+stalled, "[pm] alice -> bob: after the stall"); n != 0 {
		t.Errorf("bob got the stalled private message %d more times", n)
	}
	p.waitConfirmedOnce("after the stall")

	// This time the message reaches bob but its echo is lost: sent again
	// after the reconnect, it is not delivered twice, and its echo comes.
	proxy.StallReplies()
	const echoLost = "echo lost on the way back"
	p.enter(echoLost)
	bob.expect("[pm] alice -> bob: " + echoLost)
	p.waitPending(echoLost)
	p.waitNotOnline()
	bob.expect("#lobby <-- alice left")
	proxy.Resume()
	p.waitOnline()
	p.waitConfirmedOnce(echoLost)
	p.enter("the end")
	if n := countLinesUntil(bob, "[pm] alice -> bob: "+echoLost, "[pm] alice -> bob: the end"); n != 0 {
		t.Errorf("bob got the private message whose echo was lost %d more times", n)
	}
	p.waitConfirmedOnce("the end")
	wantTexts(t, "bob's conversation", p.confirmedTexts(), []string{"hello", stalled, "after the stall", echoLost, "the end"})
	p.assertNoConsoleErrorsBut("WebSocket")
}

// A signed-in page that reconnects does not join again a room its person
// left meanwhile on another device (here line mode): the server puts the
// person back in its rooms, so the page sends no /join, and the others do
// not see it come back. The room's tab stays, marked as not joined; a room
// the person is still in is joined again by the server; /part in the
// marked tab closes it.
func TestBrowserSignedInReconnectLeavesRoomsPartedElsewhere(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Web.PingInterval = 500 * time.Millisecond })
	proxy := newNetProxy(t, srv.HTTPAddr)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	bob.send("/join #tea")
	bob.expect("#tea --> bob joined (ssh)")

	line := newLineClient(t, srv.SSHAddr, "alice", keyAuth(newSigner(t)))
	line.expect("-!- welcome alice")
	line.register()
	code := line.webLoginCode()

	p := newPage(t)
	p.open(proxy.Addr(), "/?heartbeat=1000&code="+code)
	p.do("join as the key's nick", chromedp.WaitVisible(chromedp.ID("session-join")), chromedp.WaitEnabled(chromedp.ID("session-join")), chromedp.Click(chromedp.ID("session-join")))
	p.waitChat("alice")
	line.send("/join #tea")
	bob.expect("#tea --> alice joined (ssh)")
	line.send("/join #keep")
	p.waitPage("tabs for #tea and #keep", `() => !!document.querySelector('#rooms .room-tab[data-room="tea"]') && !!document.querySelector('#rooms .room-tab[data-room="keep"]')`)
	p.clickTab("tea")

	proxy.Stall()
	p.waitNotOnline()
	line.send("/part #tea")
	bob.expect("#tea <-- alice left")
	proxy.Resume()
	p.waitOnline()

	p.waitPage("#tea marked not joined, #keep joined again",
		`() => { const tea = document.querySelector('#rooms .room-tab[data-room="tea"]'), keep = document.querySelector('#rooms .room-tab[data-room="keep"]');
			return !!tea && tea.classList.contains("not-joined") && !!keep && !keep.classList.contains("not-joined"); }`)
	p.waitPage("the tab shown says not joined", `() => document.getElementById("member-count").textContent === "not joined"`)
	p.clickTab("lobby")
	p.enter("back again")
	bob.expectFunc("alice's line, with no join of #tea before it", func(l string) bool {
		if strings.Contains(l, "#tea --> alice joined") {
			t.Fatalf("alice joined #tea again after the page reconnected: %q", l)
		}
		return strings.HasSuffix(l, "#lobby <alice> back again")
	})
	bob.send("/who")
	if who := bob.expect("#tea members ("); !strings.HasPrefix(who, "#tea members (1): ") {
		t.Errorf("bob's /who of #tea: %q, want bob alone", who)
	}

	p.clickTab("tea")
	p.enter("/part")
	p.waitPage("the #tea tab closed", `() => !document.querySelector('#rooms .room-tab[data-room="tea"]')`)
	p.assertNoConsoleErrorsBut("WebSocket")
}

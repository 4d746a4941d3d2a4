package e2e

// The page over a bad network and across server restarts: it reconnects by
// itself, notices a dead connection, and never loses nor doubles a line.
// Real Chromium (see browser_test.go), real servers, and for stalls a TCP
// proxy (netProxy) between the two.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tertulia/tertulia/internal/app"
)

// loginAt opens the page at url and signs in as nick.
func (p *browserTab) loginAt(url, nick string) {
	p.t.Helper()
	p.do("open "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("nick")))
	p.submitNick(nick)
	p.waitChat(nick)
}

// confirmedTexts is the text of the messages on screen the server sent
// (not our own lines still pending or refused), in order.
func (p *browserTab) confirmedTexts() []string {
	p.t.Helper()
	return p.lineTexts("#messages .line.msg:not(.pending):not(.failed) .text")
}

func count(texts []string, s string) int {
	n := 0
	for _, t := range texts {
		if t == s {
			n++
		}
	}
	return n
}

func (p *browserTab) waitOnline() {
	p.t.Helper()
	p.waitPage("the connection online", `() => document.getElementById("conn-state").textContent === "online"`)
}

func (p *browserTab) waitNotOnline() {
	p.t.Helper()
	p.waitPage("the connection not online", `() => document.getElementById("conn-state").textContent !== "online"`)
}

// waitPending waits until text is shown as one of our lines still waiting
// for the server.
func (p *browserTab) waitPending(text string) {
	p.t.Helper()
	p.waitPage("the pending line "+text,
		`(text) => Array.from(document.querySelectorAll("#messages .line.pending .text")).some(e => e.textContent === text)`, text)
}

// waitConfirmedOnce waits until text is shown exactly once as a message
// and nothing is pending any more.
func (p *browserTab) waitConfirmedOnce(text string) {
	p.t.Helper()
	p.waitPage(text+" confirmed, once",
		`(text) => document.querySelectorAll("#messages .line.pending").length === 0 &&
			Array.from(document.querySelectorAll("#messages .line.msg:not(.pending):not(.failed) .text")).filter(e => e.textContent === text).length === 1`, text)
}

// countLinesUntil reads lc's lines until one containing until, counting
// those that end with suffix.
func countLinesUntil(lc *lineClient, suffix, until string) int {
	lc.t.Helper()
	n := 0
	lc.expectFunc(until, func(l string) bool {
		if strings.HasSuffix(l, suffix) {
			n++
		}
		return strings.Contains(l, until)
	})
	return n
}

// After a restart the page reconnects by itself, rejoins its rooms, sends
// the line typed while the server was down exactly once, and shows what
// was said meanwhile exactly once, with unread badges for other rooms.
func TestBrowserReconnectsAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServerIn(t, dir)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	bob.send("/join #dev")
	bob.expect("#dev --> bob joined (ssh)")

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	p.enter("/join #dev")
	p.waitCurrentRoom("dev")
	bob.expect("#dev --> alice joined (web)")
	p.clickTab("lobby")
	p.enter("before the restart")
	bob.expect("#lobby <alice> before the restart")
	p.waitConfirmedOnce("before the restart")

	srv.Stop()
	p.waitText("messages", "The server is stopping")
	p.waitNotOnline()
	const down = "typed while the server was down"
	p.enter(down)
	p.waitPending(down)

	srv2 := startServerIn(t, dir, func(c *app.Config) { c.Listen.SSH, c.Listen.HTTP = srv.SSHAddr, srv.HTTPAddr })
	listening := time.Now()
	p.waitOnline()
	if d := time.Since(listening); d > 5*time.Second {
		t.Errorf("the page was back online %s after the server listened again, want at most 5 s", d.Round(time.Millisecond))
	}
	p.waitConfirmedOnce(down)

	// Said while the page was away or reconnecting: each shown once.
	bob2 := newLineClient(t, srv2.SSHAddr, "bob")
	bob2.expect("welcome bob")
	bob2.send("meanwhile in the lobby")
	bob2.send("/join #dev")
	if l := bob2.expect("#dev members"); !strings.Contains(l, "alice") {
		t.Errorf("alice is not back in #dev: %s", l)
	}
	bob2.send("meanwhile in dev")
	bob2.send("alice: a mention in dev")
	bob2.expect("#dev <bob> alice: a mention in dev")
	p.waitPage("the #dev badge with a mention",
		`() => { const t = document.querySelector('#rooms .room-tab[data-room="dev"]');
			return !!t && t.classList.contains("has-mention") && t.querySelector(".badge").textContent === "2"; }`)
	p.waitConfirmedOnce("meanwhile in the lobby")
	lobby := p.confirmedTexts()
	for _, s := range []string{"before the restart", down, "meanwhile in the lobby"} {
		if n := count(lobby, s); n != 1 {
			t.Errorf("the lobby shows %q %d times, want once: %q", s, n, lobby)
		}
	}
	p.clickTab("dev")
	p.waitConfirmedOnce("alice: a mention in dev")
	if dev := p.confirmedTexts(); count(dev, "meanwhile in dev") != 1 {
		t.Errorf("#dev shows %q", dev)
	}

	// Stored once: a newcomer's history holds the line once.
	carol := newLineClient(t, srv2.SSHAddr, "carol")
	carol.send("marker")
	if n := countLinesUntil(carol, "<alice> "+down, "<carol> marker"); n != 1 {
		t.Errorf("the line typed while the server was down is in history %d times, want once", n)
	}
	p.assertNoConsoleErrorsBut("WebSocket")
}

// A stalled network (a tunnel): the page notices it is not online within
// 45 s, and a line typed at the start of the stall reaches the others
// exactly once after the network comes back; what was said meanwhile is
// caught up, beyond the join history, with unread badges.
//
// The heartbeat runs every second here (the page's ?heartbeat=1000), and
// the server pings every 0.5 s, so the 75 s stall of a real network (page
// pings every 14 s; the server drops silent peers after 60 s) takes a few
// seconds: the page is not online after at most three heartbeats, the
// server has dropped the stalled session before the network comes back.
func TestBrowserSurvivesAStalledNetwork(t *testing.T) {
	srv := startServer(t, func(c *app.Config) {
		c.Web.PingInterval = 500 * time.Millisecond
		c.Room.History = 3 // the catch-up must go beyond the join's history
	})
	proxy := newNetProxy(t, srv.HTTPAddr)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	bob.send("/join #dev")
	bob.expect("#dev --> bob joined (ssh)")

	p := newPage(t)
	p.loginAt("http://"+proxy.Addr()+"/?heartbeat=1000", "alice")
	p.enter("/join #dev")
	p.waitCurrentRoom("dev")
	bob.expect("#dev --> alice joined (web)")
	p.clickTab("lobby")
	p.enter("before the stall")
	bob.expect("#lobby <alice> before the stall")
	p.waitConfirmedOnce("before the stall")

	proxy.Stall()
	stalled := time.Now()
	const tunnel = "typed at the start of the stall"
	p.enter(tunnel)
	p.waitPending(tunnel)
	p.waitNotOnline()
	if d := time.Since(stalled); d > 45*time.Second {
		t.Errorf("the page still said online %s into the stall", d.Round(time.Millisecond))
	}
	bob.expect("#lobby <-- alice left")

	missed := numbered("missed ", 1, 6)
	bob.send("/join #lobby") // back to the lobby as bob's current room
	postAll(bob, "lobby", "bob", missed)
	bob.send("/join #dev")
	bob.send("in dev meanwhile")
	bob.send("alice: you were mentioned")
	bob.expect("#dev <bob> alice: you were mentioned")
	bob.send("/join #lobby")

	proxy.Resume()
	p.waitOnline()
	p.waitConfirmedOnce(tunnel)
	if n := countLinesUntil(bob, "#lobby <alice> "+tunnel, "#lobby <alice> "+tunnel); n != 1 {
		t.Fatalf("bob saw the line %d times", n)
	}
	p.enter("after the stall")
	if n := countLinesUntil(bob, "#lobby <alice> "+tunnel, "#lobby <alice> after the stall"); n != 0 {
		t.Errorf("bob saw the stalled line again %d times", n)
	}
	p.waitConfirmedOnce("after the stall")

	got := p.confirmedTexts()
	want := append(append([]string{"before the stall"}, missed...), tunnel, "after the stall")
	var seen []string
	for _, s := range got {
		for _, w := range want {
			if s == w {
				seen = append(seen, s)
			}
		}
	}
	wantTexts(t, "the lobby after the stall", seen, want)
	p.waitPage("the #dev badge with a mention",
		`() => { const t = document.querySelector('#rooms .room-tab[data-room="dev"]');
			return !!t && t.classList.contains("has-mention") && t.querySelector(".badge").textContent === "2"; }`)
	p.assertNoConsoleErrorsBut("WebSocket")
}

// A line the server refuses (too long, rate limited) stays on screen marked
// failed with the reason, its text kept: in the composer, and on the line
// with Retry and Edit.
func TestBrowserRefusedLinesKeepTheirText(t *testing.T) {
	srv := startServer(t, func(c *app.Config) {
		c.Room.MaxMessage = 30
		c.Room.RateBurst, c.Room.RatePerSecond = 4, 0.01
	})
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	bob.expect("#lobby --> alice joined (web)")

	long := strings.TrimSpace(strings.Repeat("too long ", 5))
	p.enter(long)
	p.waitPage("the long line failed",
		`(text) => Array.from(document.querySelectorAll("#messages .line.failed")).some(e =>
			e.querySelector(".text").textContent === text && e.textContent.includes("longer than 30 characters") &&
			e.querySelector('button[data-act="retry"]') && e.querySelector('button[data-act="edit"]'))`, long)
	if v := eval[string](p, `document.getElementById("input").value`); v != long {
		t.Errorf("the composer holds %q, want the refused line %q", v, long)
	}

	// Five lines at once (as fast as a paste): the budget left takes three.
	p.do("send five lines at once", chromedp.Evaluate[chromedp.Void](`(() => {
		const input = document.getElementById("input"), form = document.getElementById("send-form");
		for (let i = 1; i <= 5; i++) { input.value = "quick " + i; form.requestSubmit(); }
	})()`))
	for _, s := range []string{"quick 1", "quick 2", "quick 3"} {
		bob.expect("#lobby <alice> " + s)
	}
	for _, s := range []string{"quick 4", "quick 5"} {
		p.waitPage(s+" failed, rate limited",
			`(text) => Array.from(document.querySelectorAll("#messages .line.failed")).some(e =>
				e.querySelector(".text").textContent === text && e.textContent.includes("slow down"))`, s)
	}
	if v := eval[string](p, `document.getElementById("input").value`); v != "quick 4" {
		t.Errorf("the composer holds %q, want the first refused line, quick 4", v)
	}
	if n := eval[int](p, `document.querySelectorAll("#messages .line.pending").length`); n != 0 {
		t.Errorf("%d lines still pending: every refused line must be answered", n)
	}
	// Edit takes a refused line back into the composer.
	p.do("edit quick 5", chromedp.Click(chromedp.CSS(`#messages .line.failed:last-child button[data-act="edit"]`)))
	p.waitPage("quick 5 back in the composer", `() => document.getElementById("input").value === "quick 5" &&
		!Array.from(document.querySelectorAll("#messages .line.failed .text")).some(e => e.textContent === "quick 5")`)
	p.assertNoConsoleErrors()
}

// assertNoConsoleErrorsBut is assertNoConsoleErrors, except for the
// browser's own log of a refused or failed websocket connection (the
// server was down, the network stalled): expected here.
func (p *browserTab) assertNoConsoleErrorsBut(expected string) {
	p.t.Helper()
	var unexpected []string
	for _, m := range p.consoleErrors() {
		if !strings.Contains(m.Text, expected) {
			unexpected = append(unexpected, m.Text)
		}
	}
	if len(unexpected) > 0 {
		p.t.Errorf("the page logged %d unexpected console error(s); console:\n%s", len(unexpected), p.consoleText(-1))
	}
}

// When the browser says it is back online (or the tab is shown again), the
// page checks its connection at once rather than at its next heartbeat
// (every 14 s by default, as here): a dead one is noticed in seconds.
func TestBrowserChecksItsConnectionWhenBackOnline(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Web.PingInterval = 500 * time.Millisecond })
	proxy := newNetProxy(t, srv.HTTPAddr)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	p := newPage(t)
	p.loginAt("http://"+proxy.Addr()+"/", "alice")
	bob.expect("#lobby --> alice joined (web)")

	proxy.Stall()
	p.do("say the browser is back online", chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event("online"))`))
	asked := time.Now()
	p.waitNotOnline()
	if d := time.Since(asked); d > 10*time.Second {
		t.Errorf("the dead connection was noticed %s after the browser came back online, want a few seconds", d.Round(time.Millisecond))
	}
	bob.expect("#lobby <-- alice left")
	proxy.Resume()
	p.waitOnline()
	bob.expect("#lobby --> alice joined (web)")
	p.assertNoConsoleErrorsBut("WebSocket")
}

// With the page's and the server's default timings (a page ping every 14 s,
// two unanswered meaning dead), a connection that stalls without closing,
// and without the browser saying anything, shows as not online within
// 45 s.
func TestBrowserNoticesADeadConnectionAtDefaultTimings(t *testing.T) {
	srv := startServer(t)
	proxy := newNetProxy(t, srv.HTTPAddr)
	p := newPage(t)
	p.loginAt("http://"+proxy.Addr()+"/", "alice")
	p.waitOnline()

	proxy.Stall()
	stalled := time.Now()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.PollFunction[bool](
		`() => document.getElementById("conn-state").textContent !== "online"`,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(55*time.Second))); err != nil {
		t.Fatalf("the page still said online %s into the stall: %v", time.Since(stalled).Round(time.Second), err)
	}
	d := time.Since(stalled)
	if d > 45*time.Second {
		t.Errorf("the dead connection was noticed after %s, want at most 45 s", d.Round(time.Millisecond))
	}
	t.Logf("a stalled connection was shown not online after %s", d.Round(time.Millisecond))
	proxy.Resume()
	p.waitOnline()
}

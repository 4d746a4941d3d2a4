package e2e

// Browser tests for rooms, history and private messages: the page driven in
// headless Chromium (see browser_test.go for the set-up) against a whole
// server, with SSH line clients on the other side.

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tertulia/tertulia/internal/app"
)

// login opens the page and signs in as nick.
func (p *browserTab) login(httpAddr, nick string) {
	p.t.Helper()
	p.join(httpAddr, nick)
	p.waitChat(nick)
}

// enter types text in the composer and presses Enter (see submitNick for
// why key events).
func (p *browserTab) enter(text string) {
	p.t.Helper()
	p.do("send "+text,
		chromedp.WaitEnabled(chromedp.ID("input")),
		chromedp.Focus(chromedp.ID("input")),
		chromedp.KeyEvent(text+"\n"),
	)
}

// waitPage waits until the JavaScript function fn, called with args, returns
// true. It is re-checked on each DOM mutation.
func (p *browserTab) waitPage(what, fn string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout+5*time.Second)
	defer cancel()
	opts := []chromedp.PollOption{chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(waitTimeout)}
	if len(args) > 0 {
		opts = append(opts, chromedp.WithPollingArgs(args...))
	}
	if _, err := chromedp.Run(ctx, chromedp.PollFunction[bool](fn, opts...)); err != nil {
		p.t.Fatalf("the page never showed %s (%v); current room %q, messages:\n%s",
			what, err, p.currentRoom(), strings.Join(p.lineTexts("#messages .line"), "\n"))
	}
}

// lineTexts is the text of every element that sel matches, in order.
func (p *browserTab) lineTexts(sel string) []string {
	p.t.Helper()
	return eval[[]string](p, `Array.from(document.querySelectorAll(`+jsString(sel)+`), e => e.textContent)`)
}

// messageTexts is the text of the chat messages on screen, in order.
func (p *browserTab) messageTexts() []string {
	p.t.Helper()
	return p.lineTexts("#messages .line.msg .text")
}

// currentRoom is the data-room of the tab marked current ("" if none).
func (p *browserTab) currentRoom() string {
	p.t.Helper()
	return eval[string](p, `(() => { const t = document.querySelector("#rooms .room-tab.current"); return t ? (t.dataset.room || t.dataset.pm || "") : ""; })()`)
}

// waitCurrentRoom waits until the tab of room is the current one and the
// header names it.
func (p *browserTab) waitCurrentRoom(room string) {
	p.t.Helper()
	p.waitPage("#"+room+" as the current tab",
		`(room) => { const t = document.querySelector("#rooms .room-tab.current");
			return !!t && t.dataset.room === room && document.getElementById("room-name").textContent === "#" + room; }`, room)
}

// clickTab clicks the tab of room and waits until it is shown.
func (p *browserTab) clickTab(room string) {
	p.t.Helper()
	p.do("click the tab #"+room, chromedp.Click(chromedp.CSS(`#rooms .room-tab[data-room="`+room+`"]`)))
	p.waitCurrentRoom(room)
}

// waitMessageCount waits until exactly n messages are on screen.
func (p *browserTab) waitMessageCount(n int) {
	p.t.Helper()
	p.waitPage(fmt.Sprintf("%d messages", n), `(n) => document.querySelectorAll("#messages .line.msg").length === n`, n)
}

func numbered(prefix string, from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprintf("%s%02d", prefix, i))
	}
	return s
}

func wantTexts(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: the page shows messages\n  %q\nwant\n  %q", what, got, want)
	}
}

// postAll has c send each text and waits for its echo, so that all are
// stored before the caller goes on.
func postAll(c *lineClient, room, nick string, texts []string) {
	c.t.Helper()
	for _, m := range texts {
		c.send(m)
	}
	for _, m := range texts {
		c.expect("#" + room + " <" + nick + "> " + m)
	}
}

func TestBrowserHistoryOnJoin(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	postAll(bob, "lobby", "bob", []string{"first", "second", "third"})

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	p.waitText("messages", "third")
	bob.expect("#lobby --> alice joined (web)")
	wantTexts(t, "after joining", p.messageTexts(), []string{"first", "second", "third"})

	// Live messages follow the history, nothing repeated.
	bob.send("fourth")
	p.waitText("messages", "fourth")
	wantTexts(t, "after a live message", p.messageTexts(), []string{"first", "second", "third", "fourth"})
	if n := eval[int](p, `document.querySelectorAll("#messages .line.msg.history").length`); n != 3 {
		t.Errorf("%d messages marked as history, want 3", n)
	}
	p.assertNoConsoleErrors()
}

func TestBrowserLoadOlder(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.History = 5 })
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	all := numbered("m", 1, 12)
	postAll(bob, "lobby", "bob", all)

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	p.waitText("messages", "m12")
	wantTexts(t, "after joining", p.messageTexts(), all[7:])

	p.do("click Load older messages", chromedp.WaitVisible(chromedp.ID("load-older")), chromedp.Click(chromedp.ID("load-older")))
	p.waitMessageCount(len(all))
	wantTexts(t, "after loading older messages", p.messageTexts(), all)
	// Fewer than a page came back: there is nothing older to ask for.
	p.do("the Load older button goes away", chromedp.WaitNotVisible(chromedp.ID("load-older")))

	bob.send("m13")
	p.waitText("messages", "m13")
	wantTexts(t, "after a live message", p.messageTexts(), numbered("m", 1, 13))
	p.assertNoConsoleErrors()
}

func TestBrowserScrollToTopLoadsOlder(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.History = 40 })
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	all := numbered("s", 1, 80)
	postAll(bob, "lobby", "bob", all)

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	p.waitText("messages", "s80")
	wantTexts(t, "after joining", p.messageTexts(), all[40:])
	if !eval[bool](p, `(() => { const s = document.getElementById("scroller"); return s.scrollHeight > s.clientHeight; })()`) {
		t.Fatal("40 messages do not overflow the message view; the test needs a scrollable view")
	}

	// Scrolling to the very top asks for the previous page; the message
	// that was at the top stays where it was. (Its text is measured: the
	// day separator above it moves up to the oldest line.)
	p.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.getElementById("scroller");
		s.scrollTop = 0;
		window.__topBefore = document.querySelector('#messages .line.msg[data-id] .text').getBoundingClientRect().top;
		window.__topID = document.querySelector('#messages .line.msg[data-id]').dataset.id;
	})()`))
	p.waitMessageCount(len(all))
	wantTexts(t, "after scrolling to the top", p.messageTexts(), all)
	moved := eval[float64](p, `Math.abs(document.querySelector('#messages .line.msg[data-id="' + window.__topID + '"] .text').getBoundingClientRect().top - window.__topBefore)`)
	if moved > 2 {
		t.Errorf("the message at the top moved by %.0fpx when older messages arrived", moved)
	}
	p.assertNoConsoleErrors()
}

func TestBrowserRooms(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	bob.expect("#lobby --> alice joined (web)")
	p.waitCurrentRoom("lobby")

	p.enter("/join #dev")
	p.waitCurrentRoom("dev")
	if tabs := p.lineTexts("#rooms .room-tab .room-tab-name"); !reflect.DeepEqual(tabs, []string{"#lobby", "#dev"}) {
		t.Errorf("tabs %q, want #lobby and #dev", tabs)
	}

	bob.send("/join #dev")
	bob.expect("#dev --> bob joined (ssh)")
	p.waitText("member-list", "bob")
	bob.send("in dev")
	bob.expect("#dev <bob> in dev")
	p.waitText("messages", "in dev")

	// The lobby view has its own messages only.
	p.clickTab("lobby")
	bob.send("/join #lobby") // back to the lobby as bob's current room
	bob.send("in lobby")
	bob.expect("#lobby <bob> in lobby")
	p.waitText("messages", "in lobby")
	if got := p.messageTexts(); !reflect.DeepEqual(got, []string{"in lobby"}) {
		t.Errorf("#lobby view shows messages %q, want only \"in lobby\"", got)
	}

	// A message in a room not shown marks its tab.
	bob.send("/join #dev")
	bob.send("dev again")
	bob.expect("#dev <bob> dev again")
	p.waitPage("an unread badge on #dev",
		`() => { const b = document.querySelector('#rooms .room-tab[data-room="dev"] .badge'); return !!b && !b.hidden && b.textContent === "1"; }`)
	if got := p.messageTexts(); !reflect.DeepEqual(got, []string{"in lobby"}) {
		t.Errorf("#lobby view shows messages %q after a message in #dev", got)
	}

	p.clickTab("dev")
	if got := p.messageTexts(); !reflect.DeepEqual(got, []string{"in dev", "dev again"}) {
		t.Errorf("#dev view shows messages %q, want \"in dev\", \"dev again\"", got)
	}
	if hidden := eval[bool](p, `document.querySelector('#rooms .room-tab[data-room="dev"] .badge').hidden`); !hidden {
		t.Error("the unread badge of #dev is still shown once #dev is shown")
	}
	p.enter("hello dev")
	bob.expect("#dev <alice> hello dev")
	p.waitText("messages", "hello dev")

	// Leaving the room shown removes its tab and shows the other one.
	p.enter("/part")
	bob.expect("#dev <-- alice left")
	p.waitCurrentRoom("lobby")
	p.waitPage("no #dev tab", `() => !document.querySelector('#rooms .room-tab[data-room="dev"]')`)
	p.enter("back in the lobby")
	bob.expect("#lobby <alice> back in the lobby")
	p.assertNoConsoleErrors()
}

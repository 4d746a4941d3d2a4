package e2e

// Browser tests for what makes the page feel like today's web chat: private
// conversations in tabs of their own, clickable (and only safe) links,
// what a reload keeps, dates and dividers in the log, and notifications.
// The page runs in headless Chromium (see browser_test.go) against a whole
// server, with SSH line clients on the other side.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tertulia/tertulia/internal/app"
	"github.com/tertulia/tertulia/internal/store"
)

// clickPrivateTab clicks the tab of the private conversation with nick and
// waits until it is shown.
func (p *browserTab) clickPrivateTab(nick string) {
	p.t.Helper()
	p.do("click the private tab of "+nick, chromedp.Click(chromedp.CSS(`#rooms .pm-tab[data-pm="`+strings.ToLower(nick)+`"]`)))
	p.waitPrivateTab(nick)
}

// waitPrivateTab waits until the conversation with nick is the tab shown.
func (p *browserTab) waitPrivateTab(nick string) {
	p.t.Helper()
	p.waitPage("the private tab of "+nick+" as the current tab",
		`(nick) => { const t = document.querySelector("#rooms .room-tab.current");
			return !!t && t.dataset.pm === nick.toLowerCase() && document.getElementById("room-name").textContent === nick; }`, nick)
}

// watchReceived reports the type of every frame the page receives on its
// websocket, as the browser's network layer sees it arrive.
func (p *browserTab) watchReceived() <-chan string {
	types := make(chan string, 100)
	go func() {
		for ev, err := range chromedp.Events(p.ctx, network.WebSocketFrameReceived) {
			if err != nil {
				return // the test is over
			}
			var f struct{ Type string }
			if ev.Response == nil || json.Unmarshal([]byte(ev.Response.PayloadData), &f) != nil {
				continue
			}
			select {
			case types <- f.Type:
			case <-p.ctx.Done():
				return
			}
		}
	}()
	return types
}

// expectReceived waits for the page to receive a frame of type want,
// failing on any frame of a type in refused before it.
func (p *browserTab) expectReceived(types <-chan string, want string, refused ...string) {
	p.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case got := <-types:
			if got == want {
				return
			}
			for _, r := range refused {
				if got == r {
					p.t.Fatalf("the page received a %s frame while waiting for %s", got, want)
				}
			}
		case <-deadline:
			p.t.Fatalf("the page received no %s frame", want)
		}
	}
}

// reload loads the page again, as a user pressing F5 would.
func (p *browserTab) reload() {
	p.t.Helper()
	p.do("reload the page", chromedp.Reload())
}

func TestBrowserPrivate(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	carol := newLineClient(t, srv.SSHAddr, "carol")
	carol.expect("welcome carol")

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	bob.expect("#lobby --> alice joined (web)")

	// A private message opens a tab for its sender, with an unread badge in
	// the mention colour; the room shown does not get the line.
	bob.send("/msg alice psst")
	bob.expect("[pm] bob -> alice: psst")
	p.waitPage("a private tab for bob with one unread message",
		`() => { const t = document.querySelector('#rooms .pm-tab[data-pm="bob"]');
			return !!t && t.classList.contains("has-mention") && t.querySelector(".badge").textContent === "1" && !t.querySelector(".badge").hidden; }`)
	p.waitCurrentRoom("lobby")
	if strings.Contains(strings.Join(p.lineTexts("#messages .line"), "\n"), "psst") {
		t.Error("the private message shows in the room's log")
	}

	// In its tab, the conversation; what is typed there goes to bob alone.
	p.clickPrivateTab("bob")
	wantTexts(t, "bob's tab", p.messageTexts(), []string{"psst"})
	p.enter("got it")
	bob.expect("[pm] alice -> bob: got it")
	p.waitPage("the answer in bob's tab", `() => Array.from(document.querySelectorAll("#messages .line.msg .text"), e => e.textContent).join("|") === "psst|got it"`)

	p.clickTab("lobby")
	if log := strings.Join(p.lineTexts("#messages .line"), "\n"); strings.Contains(log, "psst") || strings.Contains(log, "got it") {
		t.Errorf("the private lines show in the room's log:\n%s", log)
	}

	// /msg typed in a room opens (and shows) the conversation with carol.
	p.enter("/msg carol hello carol")
	carol.expect("[pm] alice -> carol: hello carol")
	p.waitPrivateTab("carol")
	wantTexts(t, "carol's tab", p.messageTexts(), []string{"hello carol"})

	// Clicking a member or a nick in the log opens the conversation too.
	p.clickTab("lobby")
	p.waitText("member-list", "bob")
	p.do("click bob in the member list", chromedp.Click(chromedp.CSS(`#member-list .member-open[data-nick="bob"]`)))
	p.waitPrivateTab("bob")
	p.clickTab("lobby")
	bob.send("hello all")
	p.waitText("messages", "hello all")
	p.do("close carol's tab", chromedp.Click(chromedp.CSS(`#rooms .pm-close[data-close="carol"]`)))
	p.waitPage("no tab for carol", `() => !document.querySelector('#rooms .pm-tab[data-pm="carol"]')`)
	p.do("click bob's nick in the log", chromedp.Click(chromedp.CSS(`#messages .line.msg .nick[data-nick="bob"]`)))
	p.waitPrivateTab("bob")
	p.assertNoConsoleErrors()
}

// Another member going away and coming back shows in the member list at
// once, from the away frames alone: no new member list is sent for it.
func TestBrowserAwayInMemberList(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	bob.expect("#lobby --> alice joined (web)")
	const bobAway = `() => { const b = document.querySelector('#member-list .member-open[data-nick="bob"]');
		if (!b) return null; const li = b.closest("li"), a = li.querySelector(".away");
		return { away: li.classList.contains("is-away"), title: a ? a.title : "" }; }`
	p.waitPage("bob in the member list, not away", `() => { const s = (`+bobAway+`)(); return !!s && !s.away && s.title === ""; }`)
	frames := p.watchReceived()

	bob.send("/away making coffee")
	p.expectReceived(frames, "away", "members")
	p.waitPage("bob away in the member list, with the reason", `() => { const s = (`+bobAway+`)();
		return !!s && s.away && s.title === "away: making coffee"; }`)

	bob.send("/back")
	p.expectReceived(frames, "away", "members")
	p.waitPage("bob back in the member list", `() => { const s = (`+bobAway+`)(); return !!s && !s.away && s.title === ""; }`)
	for len(frames) > 0 {
		if got := <-frames; got == "members" {
			t.Error("the page received a member list after bob came back")
		}
	}
	p.assertNoConsoleErrors()
}

func TestBrowserLinks(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	bob.expect("#lobby --> alice joined (web)")

	bob.send(`see https://example.com/a?b=1, (www.example.org) and javascript:alert(1) data:text/html,<b>x</b> ` +
		`vbscript:msgbox JAVASCRIPT://%0aalert(1) http:// https://javascript:alert(1) <a href="javascript:alert(2)">x</a> ftp://example.net end`)
	p.waitText("messages", "end")
	bob.send("/topic notes at http://tertulia.example/notes.")
	p.waitPage("a link in the topic", `() => !!document.querySelector('#room-topic a[href="http://tertulia.example/notes"]')`)

	type link struct{ Href, Text, Rel, Target string }
	links := eval[[]link](p, `Array.from(document.querySelectorAll("#messages a, #room-topic a"),
		a => ({Href: a.getAttribute("href"), Text: a.textContent, Rel: a.rel, Target: a.target}))`)
	want := []link{ // the header's topic, then the log: the message, the topic line
		{"http://tertulia.example/notes", "http://tertulia.example/notes", "noopener noreferrer nofollow", "_blank"},
		{"https://example.com/a?b=1", "https://example.com/a?b=1", "noopener noreferrer nofollow", "_blank"},
		{"https://www.example.org/", "www.example.org", "noopener noreferrer nofollow", "_blank"},
		{"http://tertulia.example/notes", "http://tertulia.example/notes", "noopener noreferrer nofollow", "_blank"},
	}
	if !reflect.DeepEqual(links, want) {
		t.Errorf("links on the page:\n  %+v\nwant\n  %+v", links, want)
	}
	if bad := eval[[]string](p, `Array.from(document.querySelectorAll("a[href]"), a => a.getAttribute("href")).filter(h => !/^https?:\/\//.test(h))`); len(bad) > 0 {
		t.Errorf("links with another scheme: %q", bad)
	}
	if n := eval[int](p, `document.querySelectorAll("#messages b").length`); n != 0 {
		t.Errorf("markup in a message became %d element(s)", n)
	}
	p.assertNoConsoleErrors()
}

// A reload keeps the guest's nick (rejoined without a click), its rooms
// and private tabs, the tab shown, each tab's draft and where each tab was
// scrolled to.
func TestBrowserReloadRestores(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	bob.send("/join #dev")
	bob.expect("#dev --> bob joined (ssh)")
	postAll(bob, "dev", "bob", numbered("d", 1, 45))

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	bob.expect("#lobby --> alice joined (web)")
	p.enter("/join #dev")
	p.waitCurrentRoom("dev")
	p.waitText("messages", "d45")
	bob.send("/msg alice psst")
	p.waitPage("a private tab for bob", `() => !!document.querySelector('#rooms .pm-tab[data-pm="bob"]')`)

	// Each tab keeps its own draft.
	p.do("type a draft in #dev", chromedp.Focus(chromedp.ID("input")), chromedp.KeyEvent("meant for dev"))
	p.clickTab("lobby")
	if v := eval[string](p, `document.getElementById("input").value`); v != "" {
		t.Errorf("#lobby shows the draft of #dev: %q", v)
	}
	p.do("type a draft in #lobby", chromedp.Focus(chromedp.ID("input")), chromedp.KeyEvent("meant for lobby"))
	p.clickTab("dev")
	if v := eval[string](p, `document.getElementById("input").value`); v != "meant for dev" {
		t.Errorf("#dev's draft is %q", v)
	}

	// Scrolled up in #dev so that d10 is at the top.
	p.do("scroll #dev up", chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.getElementById("scroller");
		const li = Array.from(document.querySelectorAll("#messages .line.msg")).find(e => e.querySelector(".text").textContent === "d10");
		s.scrollTop += li.getBoundingClientRect().top - s.getBoundingClientRect().top;
	})()`))
	topBefore := eval[float64](p, `(() => { const s = document.getElementById("scroller");
		const li = Array.from(document.querySelectorAll("#messages .line.msg")).find(e => e.querySelector(".text").textContent === "d10");
		return li.getBoundingClientRect().top - s.getBoundingClientRect().top; })()`)

	const d10AtTop = `(want) => { const s = document.getElementById("scroller");
		const li = Array.from(document.querySelectorAll("#messages .line.msg")).find(e => e.querySelector(".text").textContent === "d10");
		return !!li && Math.abs(li.getBoundingClientRect().top - s.getBoundingClientRect().top - want) <= 2; }`
	// Another tab and back: still there.
	p.clickTab("lobby")
	p.clickTab("dev")
	p.waitPage("d10 at the top of #dev after a tab switch", d10AtTop, topBefore)

	p.reload()
	p.waitChat("alice")
	bob.expect("#lobby --> alice joined (web)")
	bob.expect("#dev --> alice joined (web)")
	p.waitCurrentRoom("dev")
	p.waitText("messages", "d45")
	if tabs := p.lineTexts("#rooms .room-tab .room-tab-name, #rooms .room-tab .pm-tab-name"); !reflect.DeepEqual(tabs, []string{"#lobby", "#dev", "bob"}) {
		t.Errorf("tabs after the reload %q, want #lobby, #dev and bob", tabs)
	}
	if v := eval[string](p, `document.getElementById("input").value`); v != "meant for dev" {
		t.Errorf("#dev's draft after the reload is %q", v)
	}
	p.waitPage("d10 at the top of #dev after the reload", d10AtTop, topBefore)
	p.clickTab("lobby")
	if v := eval[string](p, `document.getElementById("input").value`); v != "meant for lobby" {
		t.Errorf("#lobby's draft after the reload is %q", v)
	}

	// A sent line is no draft: it does not come back after a reload.
	p.do("clear the draft", chromedp.Evaluate[chromedp.Void](`document.getElementById("input").value = ""`))
	p.enter("sent from the lobby")
	bob.expect("#lobby <alice> sent from the lobby")
	p.reload()
	p.waitChat("alice")
	p.waitCurrentRoom("lobby")
	p.waitText("messages", "sent from the lobby")
	if v := eval[string](p, `document.getElementById("input").value`); v != "" {
		t.Errorf("the composer holds %q after a reload, want it empty", v)
	}
	// The history of a room joined again after the reload is no news: only
	// what is said afterwards counts as unread.
	bob.expect("#dev --> alice joined (web)")
	bob.send("/join #dev")
	bob.send("after the reload")
	bob.expect("#dev <bob> after the reload")
	p.waitPage("one unread in #dev", `() => { const b = document.querySelector('#rooms .room-tab[data-room="dev"] .badge');
		return !!b && !b.hidden && b.textContent === "1"; }`)
	p.assertNoConsoleErrors()
}

// seedLobby stores messages of the lobby, backdated, in the SQLite store
// of dir before the server starts.
func seedLobby(t *testing.T, dir string, msgs []store.Message) {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dir+"/data", 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, dir+"/data")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureRoom(ctx, store.Room{Name: "lobby", CreatedAt: msgs[0].Time}); err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if err := st.AppendMessage(ctx, &msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// History from several days is shown above our own join line, under day
// separators, with "Load older messages" only when older ones exist.
func TestBrowserDaysAndHistoryAboveJoin(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	day := func(back int, hour int) time.Time {
		d := now.AddDate(0, 0, -back)
		return time.Date(d.Year(), d.Month(), d.Day(), hour, 0, 0, 0, time.Local)
	}
	seedLobby(t, dir, []store.Message{
		{Room: "lobby", Kind: store.KindMessage, From: "bob", Text: "three days ago", Time: day(3, 10)},
		{Room: "lobby", Kind: store.KindMessage, From: "bob", Text: "yesterday morning", Time: day(1, 9)},
		{Room: "lobby", Kind: store.KindMessage, From: "bob", Text: "yesterday evening", Time: day(1, 21)},
		{Room: "lobby", Kind: store.KindMessage, From: "bob", Text: "just now", Time: now.Add(-time.Second)},
	})
	srv := startServerIn(t, dir)

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	p.waitText("messages", "just now")

	type divider struct{ Label, Aria, Line string }
	got := eval[[]divider](p, `Array.from(document.querySelectorAll("#messages .divider.day"), d => ({
		Label: d.querySelector(".divider-label").textContent, Aria: d.getAttribute("aria-label"),
		Line: (d.parentElement.querySelector(".text") || {textContent: ""}).textContent}))`)
	old := day(3, 10)
	wantLabel := eval[string](p, fmt.Sprintf(`new Date(%d).toLocaleDateString(undefined, {weekday: "short", day: "numeric", month: "short"})`, old.UnixMilli()))
	if len(got) != 3 || got[0].Line != "three days ago" || got[0].Label != wantLabel ||
		got[1].Label != "Yesterday" || got[1].Line != "yesterday morning" || got[2].Label != "Today" || got[2].Line != "just now" {
		t.Fatalf("day separators %+v; want %q over \"three days ago\", Yesterday over \"yesterday morning\", Today over \"just now\"", got, wantLabel)
	}
	// The full date is in the text, not only in a tooltip.
	if year := fmt.Sprint(old.Year()); !strings.Contains(got[0].Aria, year) ||
		!strings.Contains(eval[string](p, `document.querySelector("#messages .divider.day .divider-date").textContent`), year) {
		t.Errorf("the first separator does not give the full date: %+v", got[0])
	}

	// The history comes before our own join line, set apart from it.
	order := p.lineTexts("#messages .line")
	joined, last := -1, -1
	for i, l := range order {
		if strings.Contains(l, "alice joined #lobby") {
			joined = i
		}
		if strings.Contains(l, "just now") {
			last = i
		}
	}
	if joined < 0 || last < 0 || last > joined {
		t.Errorf("the history is not above the join line:\n%s", strings.Join(order, "\n"))
	}
	if n := eval[int](p, `document.querySelectorAll("#messages .divider.earlier").length`); n != 1 {
		t.Errorf("%d \"earlier messages\" dividers, want 1", n)
	}
	// Four stored messages, all shown: there is nothing older to load.
	if hidden := eval[bool](p, `document.getElementById("load-older").hidden`); !hidden {
		t.Error("Load older messages is offered although every message is shown")
	}
	p.assertNoConsoleErrors()
}

// Returning to a tab shows a "new messages" divider above what arrived
// meanwhile; while scrolled up, a button jumps to the latest, counting
// what arrived below.
func TestBrowserNewMessagesAndJumpToLatest(t *testing.T) {
	srv := startServer(t, func(c *app.Config) { c.Room.History = 40 })
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	postAll(bob, "lobby", "bob", numbered("l", 1, 40))

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	p.waitText("messages", "l40")
	if hidden := eval[bool](p, `document.getElementById("jump-latest").hidden`); !hidden {
		t.Error("Jump to latest is shown while at the bottom")
	}
	p.do("scroll up", chromedp.Evaluate[chromedp.Void](`document.getElementById("scroller").scrollTop = 200`))
	p.waitPage("Jump to latest while scrolled up", `() => !document.getElementById("jump-latest").hidden`)
	postAll(bob, "lobby", "bob", []string{"new one", "new two"})
	p.waitPage("the count of new messages", `() => document.getElementById("jump-latest").textContent === "Jump to latest (2 new)"`)
	p.do("jump to the latest", chromedp.Click(chromedp.ID("jump-latest")))
	p.waitPage("the newest line in view and the button gone", `() => { const s = document.getElementById("scroller");
		return s.scrollHeight - s.scrollTop - s.clientHeight < 2 && document.getElementById("jump-latest").hidden; }`)

	p.enter("/join #dev")
	p.waitCurrentRoom("dev")
	postAll(bob, "lobby", "bob", []string{"while away 1", "while away 2"})
	p.waitPage("two unread in #lobby", `() => document.querySelector('#rooms .room-tab[data-room="lobby"] .badge').textContent === "2"`)
	p.clickTab("lobby")
	marked := eval[[]string](p, `Array.from(document.querySelectorAll("#messages .divider.unread-marker"), d => d.parentElement.querySelector(".text").textContent)`)
	if !reflect.DeepEqual(marked, []string{"while away 1"}) {
		t.Errorf("\"new messages\" divider above %q, want above \"while away 1\"", marked)
	}
	p.assertNoConsoleErrors()
}

// With desktop notifications turned on (the permission granted in the
// browser), a mention or a private message while the page is hidden gives
// a notification and counts in the title and the favicon; other messages
// do not. Headless Chromium never hides a page by itself, so the test
// makes document.hidden true and fires visibilitychange; it records
// notifications by wrapping window.Notification (the real one still runs).
func TestBrowserNotifications(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	bob.expect("#lobby --> alice joined (web)")
	p.do("grant notifications", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "notifications"},
			Setting:    browser.PermissionSettingGranted,
			Origin:     "http://" + srv.HTTPAddr,
		})
		return err
	}))
	p.do("record notifications", chromedp.Evaluate[chromedp.Void](`(() => {
		window.__notes = [];
		const Real = window.Notification;
		window.Notification = class extends Real {
			constructor(title, opts) {
				window.__notes.push({title: title, body: opts && opts.body});
				super(title, opts);
				(window.__shown = window.__shown || []).push(this);
			}
		};
	})()`))
	p.waitText("notify-toggle", "Notifications off")
	p.do("turn notifications on", chromedp.Click(chromedp.ID("notify-toggle")))
	p.waitText("notify-toggle", "Notifications on")

	p.do("hide the page", chromedp.Evaluate[chromedp.Void](`(() => {
		Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
		Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
		document.dispatchEvent(new Event("visibilitychange"));
	})()`))
	bob.send("just chatting")
	bob.send("alice: are you there?")
	p.waitPage("a notification for the mention", `() => window.__notes.length >= 1`)
	bob.send("/msg alice psst")
	p.waitPage("a notification for the private message", `() => window.__notes.length >= 2`)
	type note struct{ Title, Body string }
	notes := eval[[]note](p, `window.__notes`)
	want := []note{{"bob mentioned you in #lobby", "alice: are you there?"}, {"bob (private)", "psst"}}
	if !reflect.DeepEqual(notes, want) {
		t.Errorf("notifications %+v, want %+v", notes, want)
	}
	if title := eval[string](p, `document.title`); title != "(2) Tertulia" {
		t.Errorf("title %q while hidden, want \"(2) Tertulia\"", title)
	}
	if icon := eval[string](p, `document.querySelector('link[rel="icon"]').getAttribute("href")`); !strings.HasPrefix(icon, "data:image/png;base64,") {
		t.Errorf("favicon %.40q, want a drawn badge", icon)
	}

	p.do("show the page", chromedp.Evaluate[chromedp.Void](`(() => {
		delete document.hidden;
		delete document.visibilityState;
		document.dispatchEvent(new Event("visibilitychange"));
	})()`))
	p.waitPage("the title without a count", `() => document.title === "Tertulia"`)
	if icon := eval[string](p, `document.querySelector('link[rel="icon"]').getAttribute("href")`); icon != "data:," {
		t.Errorf("favicon %.40q once seen, want none", icon)
	}
	// Clicking the notification of the private message shows its tab.
	p.do("click the private message's notification", chromedp.Evaluate[chromedp.Void](`window.__shown[1].onclick()`))
	p.waitPrivateTab("bob")
	p.assertNoConsoleErrors()
}

// A reload while someone else holds the nick offers the nickname form with
// the nick filled in and says why, rather than joining under another name.
func TestBrowserReloadNickTaken(t *testing.T) {
	srv := startServer(t)
	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	p.do("leave the page", chromedp.Navigate("about:blank"))

	other := newLineClient(t, srv.SSHAddr, "alice")
	other.expect("welcome alice")
	p.open(srv.HTTPAddr, "/")
	p.waitText("login-error", "already in use")
	if v := eval[string](p, `document.getElementById("nick").value`); v != "alice" {
		t.Errorf("the nickname field holds %q, want alice", v)
	}
	if hidden := eval[bool](p, `document.getElementById("chat-view").hidden`); !hidden {
		t.Error("the chat view is shown although the nick is taken")
	}
	p.assertNoConsoleErrors()
}

package e2e

// Browser tests for accessibility (axe-core on both views at desktop and
// phone sizes, the live log, badge labels) and the phone layout.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axeScript is axe-core's browser bundle, installed from e2e/package.json
// by scripts/test into e2e/node_modules.
func axeScript(t testing.TB) string {
	t.Helper()
	path := filepath.Join("node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("axe-core is not installed (%v): run ./scripts/test, which installs it with npm ci --prefix e2e", err)
	}
	return string(b)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// viewport sets the page's size: a desktop window, or a phone with touch.
func viewport(width, height int64, phone bool) chromedp.Action[chromedp.Void] {
	if phone {
		return chromedp.EmulateViewport(width, height, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	return chromedp.EmulateViewport(width, height)
}

// assertAxeClean runs axe-core on the page as it is and fails the test for
// every violation. The script goes in through the DevTools protocol, which
// the page's CSP does not apply to.
func (p *browserTab) assertAxeClean(what, script string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](script)); err != nil {
		p.t.Fatalf("%s: loading axe-core: %v", what, err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`axe.run(document, { resultTypes: ["violations"] }).then(r => JSON.stringify(r.violations))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: running axe-core: %v", what, err)
	}
	var violations []axeViolation
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		p.t.Fatalf("%s: reading axe-core's answer %q: %v", what, raw, err)
	}
	for _, v := range violations {
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, strings.TrimSpace(strings.ReplaceAll(
				jsonText(n.Target)+": "+n.Summary, "\n", " ")))
		}
		p.t.Errorf("%s: axe-core %s (%s): %s\n    %s", what, v.ID, v.Impact, v.Help, strings.Join(nodes, "\n    "))
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestBrowserAccessibility(t *testing.T) {
	script := axeScript(t)
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	bob.send("/topic Release planning, Friday 18:00")
	bob.expect("topic")
	bob.send("/join #dev")
	bob.expect("#dev --> bob joined")

	sizes := []struct {
		name          string
		width, height int64
		phone         bool
	}{
		{"desktop", 1280, 800, false},
		{"phone", 390, 844, true},
	}

	p := newPage(t)
	for _, s := range sizes {
		p.do("a "+s.name+" viewport", viewport(s.width, s.height, s.phone))
		p.open(srv.HTTPAddr, "/")
		p.waitGuestForm()
		p.assertAxeClean("sign-in view, "+s.name, script)
	}

	p.login(srv.HTTPAddr, "alice")
	p.enter("/join #dev")
	p.waitCurrentRoom("dev")
	p.clickTab("lobby")
	bob.send("/join #dev")
	bob.send("alice: are you there?")
	bob.send("/join #lobby")
	bob.send("hello in the lobby")
	p.waitText("messages", "hello in the lobby")
	// The badge of #dev says what it counts in words.
	p.waitPage("a labelled badge on #dev", `() => {
		const tab = document.querySelector('#rooms .room-tab[data-room="dev"]');
		return !!tab && tab.textContent.includes("1 unread, 1 mention"); }`)
	for i := len(sizes) - 1; i >= 0; i-- {
		s := sizes[i]
		p.do("a "+s.name+" viewport", viewport(s.width, s.height, s.phone))
		p.assertAxeClean("chat view, "+s.name, script)
	}
	p.do("prefer a dark colour scheme", emulateColorScheme("dark"))
	p.assertAxeClean("chat view, desktop, dark", script)
	p.do("back to a light colour scheme", emulateColorScheme("light"))

	// A mention says so in words, not only in colour.
	p.clickTab("dev")
	p.waitPage("the mention marked in words", `() => {
		const m = document.querySelector("#messages .line.mention");
		return !!m && m.textContent.includes("mentions you"); }`)

	// The log keeps its list semantics: the live region is a wrapper.
	if ok := eval[bool](p, `(() => { const l = document.querySelector('[role="log"]');
		return !!l && l.tagName === "DIV" && l.querySelector("ol#messages") !== null && !document.querySelector('ol[role]'); })()`); !ok {
		t.Error(`the log is not a role="log" wrapper around the message list`)
	}

	// Switching tabs does not add the other room's lines to the live region
	// a screen reader is following (it would read the room out again);
	// new lines afterwards do arrive in the live region.
	p.do("watch the live log", chromedp.Evaluate[chromedp.Void](`(() => {
		window.__watchedLog = document.querySelector('[role="log"]');
		window.__addedToWatched = 0;
		window.__addedToLive = 0;
		new MutationObserver(records => {
			for (const r of records) {
				const items = Array.from(r.addedNodes).filter(n => n.nodeName === "LI").length;
				if (window.__watchedLog.contains(r.target)) window.__addedToWatched += items;
				if (r.target.isConnected && r.target.closest('[role="log"]')) window.__addedToLive += items;
			}
		}).observe(document, { childList: true, subtree: true });
	})()`))
	p.clickTab("lobby")
	p.waitText("messages", "hello in the lobby")
	if n := eval[int](p, `window.__addedToWatched`); n != 0 {
		t.Errorf("switching tabs added %d lines to the live log being followed", n)
	}
	bob.send("after the switch")
	p.waitText("messages", "after the switch")
	p.waitPage("the new line added to the live log", `() => window.__addedToLive > 0`)
	p.assertNoConsoleErrors()
}

// waitLayout waits until the JavaScript function fn returns true,
// re-checked every few milliseconds: layout and scrolling change no DOM
// node, so waitPage's mutation polling would not see them.
func (p *browserTab) waitLayout(what, fn string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.PollFunction[bool](fn,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(waitTimeout))); err != nil {
		state := eval[string](p, `(() => { const s = document.getElementById("scroller"); return "scrollHeight " + s.scrollHeight + ", scrollTop " + s.scrollTop + ", clientHeight " + s.clientHeight; })()`)
		p.t.Fatalf("the page never showed %s (%v); the log: %s", what, err, state)
	}
}

// rect is an element's box on screen.
type rect struct {
	Top, Bottom, Left, Right, Width, Height float64
}

func (p *browserTab) rectOf(sel string) rect {
	p.t.Helper()
	return eval[rect](p, `(() => { const r = document.querySelector(`+jsString(sel)+`).getBoundingClientRect();
		return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height }; })()`)
}

// smallTargets lists the visible controls in the chat view smaller than
// 44x44 CSS pixels (links within text are exempt, as in WCAG 2.5.8).
func (p *browserTab) smallTargets() []string {
	p.t.Helper()
	return eval[[]string](p, `Array.from(document.querySelectorAll(
		"#chat-view button, #chat-view select, #chat-view textarea, #chat-view input"))
		.filter(e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden")
		.map(e => [e, e.getBoundingClientRect()])
		.filter(([e, r]) => r.width < 44 || r.height < 44)
		.map(([e, r]) => (e.id || e.className || e.tagName) + " " + Math.round(r.width) + "x" + Math.round(r.height))`)
}

func TestBrowserPhoneLayout(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	const topic = "Release planning, Friday 18:00 in the big room upstairs, bring the numbers and the slides for the quarter"
	bob.send("/topic " + topic)
	bob.expect("topic")
	postAll(bob, "lobby", "bob", numbered("p", 1, 40))
	const zalgo = "Z\u0336\u0337\u0338\u0310\u0311\u0312\u0313\u0314\u0315\u031a\u031b\u033d\u033e\u033f\u0340\u0341\u0342\u0343\u0344\u0346\u034a\u034b\u034c\u0350\u0351\u0352\u0357\u035b\u0363\u0364\u0365\u0366\u0367\u0368\u0369\u036a\u036b\u036c\u036d\u036e\u036fa"
	bob.send(zalgo)
	bob.expect("<bob> " + zalgo)

	p := newPage(t)
	p.do("a phone viewport", viewport(390, 844, true))
	p.login(srv.HTTPAddr, "alice")
	p.waitText("messages", "p40")

	// The topic shows on its own line; a tap shows it whole.
	p.waitText("room-topic", topic)
	top := p.rectOf("#room-topic")
	if top.Height < 10 || top.Width < 200 || top.Bottom > 844 {
		t.Errorf("the topic is not visible on the phone: its box is %+v", top)
	}
	p.do("tap the topic", chromedp.Click(chromedp.ID("room-topic")))
	if expanded := eval[string](p, `document.getElementById("room-topic").getAttribute("aria-expanded")`); expanded != "true" {
		t.Errorf("tapping the topic did not expand it (aria-expanded=%q)", expanded)
	}
	if whole := p.rectOf("#room-topic"); whole.Height <= top.Height {
		t.Errorf("the expanded topic is no taller (%.0fpx) than the one-line topic (%.0fpx)", whole.Height, top.Height)
	}
	p.do("tap the topic again", chromedp.Click(chromedp.ID("room-topic")))

	// A line's ink stays within the line: stacked marks are clipped.
	if clip := eval[string](p, `(() => { const li = Array.from(document.querySelectorAll("#messages .line.msg")).find(l => l.textContent.includes("Z\u0336")); return li ? getComputedStyle(li).overflowY : "no line"; })()`); clip != "clip" && clip != "hidden" {
		t.Errorf("the line with stacked combining marks is not clipped (overflow %q)", clip)
	}

	// The log stays on its newest line when the keyboard takes half the
	// screen.
	atBottom := `() => { const s = document.getElementById("scroller"); return s.scrollHeight > s.clientHeight && s.scrollHeight - s.scrollTop - s.clientHeight < 2; }`
	p.waitLayout("the log at its newest line", atBottom)
	p.do("open the keyboard (a shorter viewport)", viewport(390, 430, true))
	p.waitLayout("the log still at its newest line with the keyboard open", atBottom)
	p.do("close the keyboard", viewport(390, 844, true))
	p.waitLayout("the log at its newest line with the keyboard closed", atBottom)

	// Every control can be hit with a finger.
	if small := p.smallTargets(); len(small) > 0 {
		t.Errorf("controls smaller than 44x44 px on the phone: %q", small)
	}

	// Members are in a drawer, opened from the header.
	if visible := eval[bool](p, `document.getElementById("members").getClientRects().length > 0`); visible {
		t.Error("the member list takes room on the phone before it is asked for")
	}
	p.do("open the members drawer", chromedp.Click(chromedp.ID("members-toggle")))
	p.do("the drawer shows", chromedp.WaitVisible(chromedp.ID("member-list")))
	p.waitText("member-list", "alice", "bob")
	if small := p.smallTargets(); len(small) > 0 {
		t.Errorf("controls smaller than 44x44 px with the drawer open: %q", small)
	}
	p.do("close the drawer", chromedp.Click(chromedp.ID("members-close")), chromedp.WaitNotVisible(chromedp.ID("member-list")))

	// With many rooms, the current tab stays in view.
	inView := `(room) => { const t = document.querySelector('#rooms .room-tab[data-room="' + room + '"]');
		const bar = document.getElementById("rooms").getBoundingClientRect();
		if (!t || !t.classList.contains("current")) return false;
		const r = t.getBoundingClientRect();
		return r.left >= bar.left - 1 && r.right <= bar.right + 1; }`
	rooms := []string{"golang", "release-planning", "random-chatter", "design-reviews", "operations"}
	for _, r := range rooms {
		p.enter("/join #" + r)
		p.waitCurrentRoom(r)
		p.waitPage("the tab #"+r+" in view", inView, r)
	}
	if !eval[bool](p, `(() => { const b = document.getElementById("rooms"); return b.scrollWidth > b.clientWidth; })()`) {
		t.Fatal("six tabs fit on the phone; the test needs more")
	}
	p.do("Alt+1", chromedp.KeyEvent("1", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitCurrentRoom("lobby")
	p.waitPage("the tab #lobby in view", inView, "lobby")

	// The offline bar takes its room from the log, which still shows its
	// newest line (the one saying what happened).
	p.waitLayout("the log at its newest line", atBottom)
	srv.Stop()
	p.do("the offline bar shows", chromedp.WaitVisible(chromedp.ID("offline-bar")))
	p.waitLayout("the log at its newest line under the offline bar", atBottom)
}

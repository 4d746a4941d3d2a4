package e2e

// Browser tests for the composer (a textarea: Enter sends, Shift+Enter and
// pastes keep line breaks, Tab completes, a counter near the limit, Up
// recalls) and the page's keyboard shortcuts and themes.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// composerValue is the text in the composer.
func (p *browserTab) composerValue() string {
	p.t.Helper()
	return eval[string](p, `document.getElementById("input").value`)
}

// clearComposer empties the composer as a user selecting all and deleting
// would (an input event follows, so the page sees the change).
func (p *browserTab) clearComposer() {
	p.t.Helper()
	p.do("clear the composer",
		chromedp.Focus(chromedp.ID("input")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("input").select()`),
		chromedp.KeyEvent(kb.Delete),
	)
	if v := p.composerValue(); v != "" {
		p.t.Fatalf("the composer still holds %q after deleting everything", v)
	}
}

// insertText puts text at the caret in one go, as a paste or an input
// method does (line breaks included).
func insertText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// emulateColorScheme makes the page see prefers-color-scheme as scheme.
func emulateColorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// expectSaid waits until the messages from nick that wc receives, joined
// by line breaks, spell want. A server that makes one message per line
// delivers a multi-line say as consecutive messages, one that keeps
// multi-line messages as one; either way the line breaks of the say are
// there, and a flattened text ("a b") can never match.
func (wc *wsClient) expectSaid(nick, want string) {
	wc.t.Helper()
	var got []string
	wc.expect("the message(s) of "+nick+" spelling "+want, func(f frame) bool {
		if f.Type != "message" || f.From != nick {
			return false
		}
		got = append(got, f.Text)
		joined := strings.Join(got, "\n")
		if joined != want && !strings.HasPrefix(want, joined+"\n") {
			wc.t.Fatalf("%s said %q, want %q", nick, joined, want)
		}
		return joined == want
	})
}

// watchSays reports the text of every say frame the page sends on its
// websocket, as the browser's network layer sees it leave.
func (p *browserTab) watchSays() <-chan string {
	says := make(chan string, 100)
	go func() {
		for ev, err := range chromedp.Events(p.ctx, network.WebSocketFrameSent) {
			if err != nil {
				return // the test is over
			}
			var f struct{ Type, Text string }
			if ev.Response == nil || json.Unmarshal(ev.Response.PayloadData, &f) != nil || f.Type != "say" {
				continue
			}
			select {
			case says <- f.Text:
			case <-p.ctx.Done():
				return
			}
		}
	}()
	return says
}

// expectSay waits for the page to send a say frame and checks its text.
func (p *browserTab) expectSay(says <-chan string, want string) {
	p.t.Helper()
	select {
	case got := <-says:
		if got != want {
			p.t.Fatalf("the page sent a say with text %q, want %q", got, want)
		}
	case <-time.After(waitTimeout):
		p.t.Fatalf("the page sent no say frame for %q", want)
	}
}

func TestBrowserComposerLines(t *testing.T) {
	srv := startServer(t)
	bot := joinWS(t, srv.HTTPAddr, "wsbot")

	p := newPage(t)
	says := p.watchSays()
	p.login(srv.HTTPAddr, "alice")
	bot.expect("alice joins", func(f frame) bool { return f.Type == "join" && f.Nick == "alice" })

	if tag := eval[string](p, `document.getElementById("input").tagName`); tag != "TEXTAREA" {
		t.Fatalf("the composer is a %s, want a TEXTAREA", tag)
	}
	oneLine := eval[float64](p, `document.getElementById("input").getBoundingClientRect().height`)

	// Shift+Enter starts a new line; nothing is sent until Enter.
	p.do("type two lines with Shift+Enter",
		chromedp.Focus(chromedp.ID("input")),
		chromedp.KeyEvent("first line"),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.KeyEvent("second line"),
	)
	if v := p.composerValue(); v != "first line\nsecond line" {
		t.Fatalf("after Shift+Enter the composer holds %q, want two lines", v)
	}
	if twoLines := eval[float64](p, `document.getElementById("input").getBoundingClientRect().height`); twoLines <= oneLine {
		t.Errorf("the composer did not grow for a second line: %.0fpx, was %.0fpx", twoLines, oneLine)
	}
	p.do("press Enter", chromedp.KeyEvent(kb.Enter))
	p.expectSay(says, "first line\nsecond line")
	bot.expectSaid("alice", "first line\nsecond line")
	if v := p.composerValue(); v != "" {
		t.Errorf("the composer holds %q after sending", v)
	}

	// A pasted block of lines is one say with its line breaks.
	const pasted = "pasted one\npasted two\npasted three"
	p.do("paste three lines", chromedp.Focus(chromedp.ID("input")), insertText(pasted))
	if v := p.composerValue(); v != pasted {
		t.Fatalf("after the paste the composer holds %q, want %q", v, pasted)
	}
	// It grows to about 6 lines, not more.
	p.do("paste ten more lines", insertText(strings.Repeat("\nmore", 10)))
	h := eval[float64](p, `(() => { const t = document.getElementById("input"); const lh = parseFloat(getComputedStyle(t).lineHeight); return t.getBoundingClientRect().height / lh; })()`)
	if h < 5 || h > 7.5 {
		t.Errorf("a 13-line composer is %.1f lines high, want about 6", h)
	}
	p.clearComposer()
	p.do("paste three lines again", insertText(pasted))
	p.do("press Enter", chromedp.KeyEvent(kb.Enter))
	p.expectSay(says, pasted)
	bot.expectSaid("alice", pasted)

	// Up in the empty composer brings back the last line sent, whole.
	p.do("press Up", chromedp.KeyEvent(kb.ArrowUp))
	if v := p.composerValue(); v != pasted {
		t.Errorf("Up in the empty composer gave %q, want the last line sent %q", v, pasted)
	}
	// Within those lines Up moves the caret; from the first line it
	// brings back the text sent before, and Down goes forward again.
	p.do("press Up twice", chromedp.KeyEvent(kb.ArrowUp+kb.ArrowUp))
	if v := p.composerValue(); v != pasted {
		t.Errorf("Up within a recalled text of three lines replaced it with %q", v)
	}
	p.do("press Up on the first line", chromedp.KeyEvent(kb.ArrowUp))
	if v := p.composerValue(); v != "first line\nsecond line" {
		t.Errorf("Up on the first line gave %q, want the text sent before", v)
	}
	p.do("press Down", chromedp.KeyEvent(kb.ArrowDown))
	if v := p.composerValue(); v != pasted {
		t.Errorf("Down gave %q, want the last text sent again", v)
	}
	p.assertNoConsoleErrors()
}

func TestBrowserComposerCompletionAndCounter(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	bob.send("/join #dev")
	bob.expect("#dev --> bob joined")
	bob.send("/join #lobby")

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	p.waitText("members", "bob")
	p.enter("/join #dev")
	p.waitCurrentRoom("dev")
	p.clickTab("lobby")

	tab := func(typed, want string) {
		t.Helper()
		p.do("type "+typed+" and Tab", chromedp.Focus(chromedp.ID("input")), chromedp.KeyEvent(typed+kb.Tab))
		if v := p.composerValue(); v != want {
			t.Fatalf("typing %q then Tab gave %q, want %q", typed, v, want)
		}
	}
	tab("bo", "bob: ")
	tab("see you B", "bob: see you bob ")
	if focused := eval[string](p, `document.activeElement.id`); focused != "input" {
		t.Errorf("after completing, the focus is on %q, want the composer", focused)
	}
	p.clearComposer()
	tab("/jo", "/join ")
	tab("#d", "/join #dev ")
	p.clearComposer()
	// Nothing to complete: Tab moves the focus on, as everywhere else.
	p.do("Tab in the empty composer", chromedp.KeyEvent(kb.Tab))
	if focused := eval[string](p, `document.activeElement.id`); focused == "input" {
		t.Error("Tab in the empty composer kept the focus (a keyboard trap)")
	}

	// The counter appears near the limit and says when it is over.
	p.do("type a short line", chromedp.Focus(chromedp.ID("input")), chromedp.KeyEvent("hi"))
	if shown := eval[bool](p, `!document.getElementById("input-count").hidden`); shown {
		t.Error("the character counter shows for a two-character line")
	}
	p.clearComposer()
	p.do("paste 1850 characters", insertText(strings.Repeat("é", 1850)))
	p.waitText("input-count", "1850 / 2000")
	p.do("paste 200 more", insertText(strings.Repeat("x", 200)))
	p.waitText("input-count", "2050 / 2000", "50 too many")
	if over := eval[bool](p, `document.getElementById("input-count").classList.contains("over")`); !over {
		t.Error("the counter over the limit is not marked as over")
	}
	p.assertNoConsoleErrors()
}

func TestBrowserKeyboardShortcuts(t *testing.T) {
	srv := startServer(t)
	bob := newLineClient(t, srv.SSHAddr, "bob")
	bob.expect("welcome bob")
	postAll(bob, "lobby", "bob", numbered("k", 1, 45))

	p := newPage(t)
	p.login(srv.HTTPAddr, "alice")
	p.waitText("messages", "k45")
	p.enter("/join #dev")
	p.waitCurrentRoom("dev")
	p.enter("/join #ops")
	p.waitCurrentRoom("ops")

	p.do("Alt+1", chromedp.Focus(chromedp.ID("input")), chromedp.KeyEvent("1", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitCurrentRoom("lobby")
	p.do("Alt+Down", chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitCurrentRoom("dev")
	p.do("Alt+Up twice", chromedp.KeyEvent(kb.ArrowUp+kb.ArrowUp, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitCurrentRoom("ops") // wraps around from the first tab
	p.do("Alt+1", chromedp.KeyEvent("1", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitCurrentRoom("lobby")
	if focused := eval[string](p, `document.activeElement.id`); focused != "input" {
		t.Errorf("after switching tabs by keyboard, the focus is on %q, want the composer", focused)
	}
	if v := p.composerValue(); v != "" {
		t.Errorf("the tab shortcuts typed %q in the composer", v)
	}

	// A private tab comes after the rooms' and is reached the same ways.
	p.enter("/msg bob hi")
	bob.expect("[pm] alice -> bob: hi")
	p.waitPrivateTab("bob")
	p.do("Alt+Down", chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitCurrentRoom("lobby") // wraps around from the private tab, the last
	p.do("Alt+Up", chromedp.KeyEvent(kb.ArrowUp, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitPrivateTab("bob")
	p.do("Alt+Up", chromedp.KeyEvent(kb.ArrowUp, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitCurrentRoom("ops")
	p.do("Alt+Down", chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitPrivateTab("bob")
	p.do("Alt+1", chromedp.KeyEvent("1", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitCurrentRoom("lobby")
	p.do("Alt+4", chromedp.KeyEvent("4", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitPrivateTab("bob")
	if focused := eval[string](p, `document.activeElement.id`); focused != "input" {
		t.Errorf("after switching to a private tab by keyboard, the focus is on %q, want the composer", focused)
	}
	p.do("Alt+1", chromedp.KeyEvent("1", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	p.waitCurrentRoom("lobby")

	// PageUp/PageDown in the composer page the log.
	if !eval[bool](p, `(() => { const s = document.getElementById("scroller"); return s.scrollHeight > s.clientHeight * 2; })()`) {
		t.Fatal("45 messages do not fill two screens; the test needs a longer log")
	}
	bottom := eval[float64](p, `document.getElementById("scroller").scrollTop`)
	p.do("PageUp", chromedp.Focus(chromedp.ID("input")), chromedp.KeyEvent(kb.PageUp))
	up := eval[float64](p, `document.getElementById("scroller").scrollTop`)
	if up >= bottom-100 {
		t.Fatalf("PageUp in the composer moved the log from %.0f to %.0f", bottom, up)
	}
	p.do("PageDown", chromedp.KeyEvent(kb.PageDown))
	if down := eval[float64](p, `document.getElementById("scroller").scrollTop`); down <= up+100 {
		t.Errorf("PageDown in the composer moved the log from %.0f to %.0f", up, down)
	}
	p.assertNoConsoleErrors()
}

// background is the page's background colour, as "rgb(r, g, b)".
func (p *browserTab) background() string {
	p.t.Helper()
	return eval[string](p, `getComputedStyle(document.body).backgroundColor`)
}

// isDark tells whether a computed "rgb(r, g, b)" colour is dark.
func isDark(t *testing.T, rgb string) bool {
	t.Helper()
	var r, g, b int
	if _, err := fmt.Sscanf(rgb, "rgb(%d, %d, %d)", &r, &g, &b); err != nil {
		t.Fatalf("cannot read the colour %q: %v", rgb, err)
	}
	return r+g+b < 3*100
}

func TestBrowserDarkTheme(t *testing.T) {
	srv := startServer(t)

	p := newPage(t)
	p.do("prefer a dark colour scheme", emulateColorScheme("dark"))
	p.open(srv.HTTPAddr, "/")
	p.waitGuestForm()
	if bg := p.background(); !isDark(t, bg) {
		t.Fatalf("with a dark system scheme the sign-in page is %s", bg)
	}
	p.login(srv.HTTPAddr, "alice")
	if bg := eval[string](p, `getComputedStyle(document.getElementById("scroller")).backgroundColor`); !isDark(t, bg) {
		t.Errorf("with a dark system scheme the chat log is %s", bg)
	}
	if fg := eval[string](p, `getComputedStyle(document.getElementById("input")).color`); isDark(t, fg) {
		t.Errorf("with a dark system scheme the composer's text is dark (%s)", fg)
	}

	choose := func(theme string) {
		t.Helper()
		p.do("choose the "+theme+" theme", chromedp.Evaluate[chromedp.Void](`(() => {
			const s = document.getElementById("chat-theme"); s.value = `+jsString(theme)+`; s.dispatchEvent(new Event("change")); })()`))
	}
	// A manual choice wins over the system's and survives a reload.
	choose("light")
	if bg := p.background(); isDark(t, bg) {
		t.Fatalf("after choosing light the page is %s", bg)
	}
	// Left on purpose, so that the reload offers the sign-in forms rather
	// than rejoining as alice.
	p.enter("/quit")
	p.waitText("messages", "disconnected: quit")
	p.open(srv.HTTPAddr, "/")
	p.waitGuestForm()
	if bg := p.background(); isDark(t, bg) {
		t.Errorf("after a reload the chosen light theme is gone: %s", bg)
	}
	if v := eval[string](p, `document.getElementById("login-theme").value`); v != "light" {
		t.Errorf("the theme switch shows %q after a reload, want light", v)
	}
	p.login(srv.HTTPAddr, "alice2")
	choose("system")
	if bg := p.background(); !isDark(t, bg) {
		t.Errorf("back to the system's theme, the page is %s", bg)
	}
	p.do("prefer a light colour scheme", emulateColorScheme("light"))
	if bg := p.background(); isDark(t, bg) {
		t.Errorf("following a light system scheme, the page is %s", bg)
	}
	choose("dark")
	if bg := p.background(); !isDark(t, bg) {
		t.Errorf("after choosing dark on a light system, the page is %s", bg)
	}
	p.assertNoConsoleErrors()
}

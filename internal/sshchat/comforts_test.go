package sshchat

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
)

func typeText(m *tuiModel, text string) {
	for _, r := range text {
		m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func press(m *tuiModel, code rune, mod tea.KeyMod) {
	m.Update(tea.KeyPressMsg{Code: code, Mod: mod})
}

// shownLog is the message area as text.
func shownLog(m *tuiModel) string {
	return ansi.Strip(strings.Join(m.rows()[:m.msgs.height], "\n"))
}

func closed(cs *room.Session) bool {
	select {
	case <-cs.Done():
		return true
	default:
		return false
	}
}

// Ctrl-C clears a line being typed and quits only on an empty one; Ctrl-D
// deletes the next character and quits only on an empty line.
func TestCtrlCAndCtrlDQuitOnlyOnAnEmptyLine(t *testing.T) {
	m, _, cs := testModel(t, 80, 24)
	typeText(m, "some draft text")
	press(m, tea.KeyHome, 0)
	press(m, 'd', tea.ModCtrl)
	if got := m.input.Value(); got != "ome draft text" || closed(cs) {
		t.Fatalf("Ctrl-D in a draft: input %q, closed %v; want the first character deleted", got, closed(cs))
	}
	press(m, 'c', tea.ModCtrl)
	if got := m.input.Value(); got != "" || closed(cs) {
		t.Fatalf("Ctrl-C in a draft: input %q, closed %v; want it cleared", got, closed(cs))
	}
	press(m, 'd', tea.ModCtrl)
	if !closed(cs) || cs.CloseReason().Code != room.CodeQuit {
		t.Fatalf("Ctrl-D on an empty line did not quit (%v)", cs.CloseReason())
	}

	m2, _, cs2 := testModel(t, 80, 24)
	press(m2, 'c', tea.ModCtrl)
	if !closed(cs2) {
		t.Fatal("Ctrl-C on an empty line did not quit")
	}
}

// Up steps back through the lines sent, Down forward and then back to the
// draft; a multi-line message comes back with its breaks marked.
func TestUpDownRecallSentLines(t *testing.T) {
	m, _, _ := testModel(t, 80, 24)
	for _, l := range []string{"first", "/me waves", "third"} {
		typeText(m, l)
		press(m, tea.KeyEnter, 0)
	}
	m.Update(tea.PasteMsg{Content: "two\nlines"})
	press(m, tea.KeyEnter, 0)
	typeText(m, "draft")
	var got []string
	for range 5 {
		press(m, tea.KeyUp, 0)
		got = append(got, m.input.Value())
	}
	if want := "two↵lines|third|/me waves|first|first"; strings.Join(got, "|") != want {
		t.Fatalf("Up shows %q, want %q", strings.Join(got, "|"), want)
	}
	got = got[:0]
	for range 5 {
		press(m, tea.KeyDown, 0)
		got = append(got, m.input.Value())
	}
	if want := "/me waves|third|two↵lines|draft|draft"; strings.Join(got, "|") != want {
		t.Fatalf("Down shows %q, want %q", strings.Join(got, "|"), want)
	}
}

// Tab completes a nick at the start of a line with ": ", elsewhere with a
// space, cycling through matches; a first word with / completes a
// command and #... a room.
func TestTabCompletion(t *testing.T) {
	m, hub, cs := testModel(t, 80, 24)
	for _, nick := range []string{"alice", "alfred", "carol"} {
		s, err := hub.Connect(room.Identity{Nick: nick, Via: room.ViaWeb})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Leave)
	}
	hub.Input(cs, "", "/join #coffee-lovers")
	hub.Input(cs, "", "/join #lobby")
	readQueued(m, cs)
	cases := []struct {
		typed string
		tabs  int
		want  string
	}{
		{"ca", 1, "carol: "},
		{"AL", 1, "alfred: "},
		{"al", 2, "alice: "},
		{"al", 3, "alfred: "},
		{"thanks ca", 1, "thanks carol "},
		{"thanks @ca", 1, "thanks @carol "},
		{"/jo", 1, "/join "},
		{"/join #cof", 1, "/join #coffee-lovers "},
		{"zz", 1, "zz"},
		{"bo", 1, "bo"}, // one's own nick is not offered
	}
	for _, tc := range cases {
		m.input.Reset()
		typeText(m, tc.typed)
		for range tc.tabs {
			press(m, tea.KeyTab, 0)
		}
		if got := m.input.Value(); got != tc.want {
			t.Errorf("%q and %d Tab: %q, want %q", tc.typed, tc.tabs, got, tc.want)
		}
	}
	// Typing after a completion starts a new one.
	m.input.Reset()
	typeText(m, "ca")
	press(m, tea.KeyTab, 0)
	typeText(m, "hi al")
	press(m, tea.KeyTab, 0)
	if got := m.input.Value(); got != "carol: hi alfred " {
		t.Errorf("second completion: %q", got)
	}
}

// On connecting, the room's history comes first, then a divider, then the
// join and the welcome with the message of the day, last.
func TestHistoryThenDividerThenWelcome(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithMOTD("Be kind."))
	if err := hub.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Leave)
	hub.Input(alice, "", "an older message")
	cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.Leave)
	m := newTUIModel(hub, cs, 120, 24)
	readQueued(m, cs)
	var order []string
	for _, l := range strings.Split(shownLog(m), "\n") {
		for _, mark := range []string{"an older message", "history above", "bob joined", "Welcome to Tertulia", "Be kind."} {
			if strings.Contains(l, mark) {
				order = append(order, mark)
			}
		}
	}
	if got := strings.Join(order, " / "); got != "an older message / history above / bob joined / Welcome to Tertulia / Be kind." {
		t.Fatalf("order: %s\n%s", got, shownLog(m))
	}
}

// A private message has a conversation of its own, reached with Ctrl-N,
// where plain text answers the peer; it is still there after /part of
// the room it arrived in.
func TestPrivateConversationSurvivesPart(t *testing.T) {
	m, hub, cs := testModel(t, 100, 24)
	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Leave)
	hub.Input(cs, "", "/join #dev")
	readQueued(m, cs)
	hub.Input(alice, "", "/msg bob the deploy password is in the vault")
	readQueued(m, cs)
	if !strings.Contains(shownLog(m), "the deploy password") {
		t.Fatalf("the PM is not shown in the room on screen:\n%s", shownLog(m))
	}
	typeText(m, "/part")
	press(m, tea.KeyEnter, 0)
	readQueued(m, cs)
	found := false
	for range len(m.viewKeys()) {
		press(m, 'n', tea.ModCtrl)
		if m.pmPeer == "alice" && strings.Contains(shownLog(m), "the deploy password") {
			found = true
			break
		}
	}
	if !found {
		t.Fatalf("no conversation with alice after /part; views %q", m.viewKeys())
	}
	if status := ansi.Strip(m.statusLine()); !strings.Contains(status, "@alice") {
		t.Errorf("status line %q does not name the conversation", status)
	}
	for len(alice.Events()) > 0 {
		<-alice.Events()
	}
	typeText(m, "thanks!")
	press(m, tea.KeyEnter, 0)
	var got []string
	for len(alice.Events()) > 0 {
		if ev := <-alice.Events(); ev.Kind == room.KindPrivate {
			got = append(got, ev.From+": "+ev.Text)
		}
	}
	if len(got) != 1 || got[0] != "bob: thanks!" {
		t.Errorf("alice got %q, want bob's private answer", got)
	}
}

// Lines typed faster than the server's rate (an unbracketed paste) wait
// and are counted on the status line, then go out at the rate: none is
// refused and the session is not dropped for flooding.
func TestFastLinesArePacedNotRefused(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithRate(3, 10), room.WithFloodLimit(2), room.WithQueueSize(1<<12))
	cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.Leave)
	m := newTUIModel(hub, cs, 100, 24)
	readQueued(m, cs)
	var tick tea.Cmd
	for i := 1; i <= 12; i++ {
		typeText(m, fmt.Sprintf("code line %d", i))
		if _, cmd := m.Update(tea.KeyPressMsg{Code: tea.KeyEnter}); cmd != nil {
			tick = cmd
		}
	}
	if status := ansi.Strip(m.statusLine()); !strings.Contains(status, " lines waiting") || tick == nil {
		t.Fatalf("status line %q does not count the waiting lines", status)
	}
	// The model's tick, awaited as the program would.
	for tick != nil {
		_, tick = m.Update(tick())
	}
	var sent []string
	for len(cs.Events()) > 0 {
		ev := <-cs.Events()
		switch ev.Kind {
		case room.KindMessage:
			sent = append(sent, ev.Text)
		case room.KindError:
			t.Errorf("refused: %s", ev.Text)
		}
	}
	if len(sent) != 12 || sent[11] != "code line 12" || closed(cs) {
		t.Fatalf("sent %d lines (%q), closed %v", len(sent), sent, closed(cs))
	}
}

// When the session ends, the last screenful of the conversation and why
// it ended are what is left to print on the normal screen.
func TestFarewellKeepsTheConversationAndTheReason(t *testing.T) {
	m, _, _ := testModel(t, 60, 8)
	for i := 1; i <= 10; i++ {
		m.Update(eventsMsg{testMessage(uint64(i), "alice", fmt.Sprintf("message %d", i))})
	}
	cases := map[room.CloseReason]string{
		room.ReasonStopping: "Disconnected: the server is stopping. Reconnect in a moment",
		room.ReasonFlooding: "Disconnected for flooding",
		room.ReasonQuit:     "You left the chat.",
		{Code: room.CodeKicked, Text: "kicked by alice: testing"}: "Disconnected: kicked by alice: testing.",
	}
	for reason, want := range cases {
		rows := m.farewell(reason)
		text := ansi.Strip(strings.Join(rows, "\n"))
		if !strings.Contains(text, "message 10") || !strings.Contains(text, "message 5") || !strings.HasPrefix(ansi.Strip(rows[len(rows)-1]), want) {
			t.Errorf("%s: farewell\n%s", reason.Code, text)
		}
	}
}

// Ctrl-V never asks for the clipboard of the machine the server runs on:
// the key does nothing; pasting is the user's terminal's bracketed paste.
func TestCtrlVDoesNotReadTheServersClipboard(t *testing.T) {
	hub := room.NewHub()
	cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.Leave)
	m := newTUIModel(hub, cs, 80, 24)
	_, cmd := m.Update(tea.KeyPressMsg{Code: 'v', Mod: tea.ModCtrl})
	if cmd != nil {
		if msg := cmd(); msg != nil {
			t.Fatalf("Ctrl-V ran a command that produced %T", msg)
		}
	}
	if got := m.input.Value(); got != "" {
		t.Fatalf("Ctrl-V typed %q", got)
	}
	m.Update(tea.PasteMsg{Content: "from the user's terminal"})
	if got := m.input.Value(); got != "from the user's terminal" {
		t.Fatalf("a bracketed paste gave %q", got)
	}
}

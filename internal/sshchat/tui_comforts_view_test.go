package sshchat

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"

	"github.com/tertulia/tertulia/internal/room"
)

// The status line names the private conversation on screen, marks the
// others with unread lines, and counts the lines waiting to be sent, all
// before the topic; at 40 columns the nick, the place and the marks still
// show.
func TestTUIStatusLineWithConversationsAndWaitingLines(t *testing.T) {
	for _, w := range []int{40, 160} {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithRate(1, 0.01), room.WithFloodLimit(100), room.WithQueueSize(1<<12))
			cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cs.Leave)
			m := newTUIModel(hub, cs, w, 12)
			readQueued(m, cs)
			var others []*room.Session
			for _, nick := range []string{"alice", "carol"} {
				s, err := hub.Connect(room.Identity{Nick: nick, Via: room.ViaWeb})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(s.Leave)
				others = append(others, s)
			}
			alice, carol := others[0], others[1]
			hub.Input(carol, "", "/msg bob a word")
			readQueued(m, cs)
			for range len(m.viewKeys()) {
				if m.pmPeer == "carol" {
					break
				}
				press(m, 'n', tea.ModCtrl)
			}
			if m.pmPeer != "carol" {
				t.Fatalf("no conversation with carol; views %q", m.viewKeys())
			}
			hub.Input(alice, "", "/msg bob are you there?")
			readQueued(m, cs)
			// The first line goes at once (the burst), the rest wait.
			for i := range 3 {
				typeText(m, fmt.Sprintf("line %d", i))
				press(m, tea.KeyEnter, 0)
			}
			status := strings.TrimSpace(ansi.Strip(m.rows()[m.msgs.height]))
			for _, want := range []string{"bob │ ", "@carol", "@alice*"} {
				if !strings.Contains(status, want) {
					t.Errorf("status line %q lacks %q", status, want)
				}
			}
			if w == 160 && !strings.Contains(status, "│ 2 lines waiting") {
				t.Errorf("status line %q does not count the waiting lines", status)
			}
			if ansi.StringWidth(status) > w-1 {
				t.Errorf("status line %q is wider than %d columns", status, w-1)
			}
		})
	}
}

// unpacedModel is testModel on a hub that takes lines as fast as they come.
func unpacedModel(t *testing.T, w, h int) (*tuiModel, *room.Hub, *room.Session) {
	t.Helper()
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<12), room.WithRate(1000, 1000))
	cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.Leave)
	m := newTUIModel(hub, cs, w, h)
	readQueued(m, cs)
	return m, hub, cs
}

var colourSGR = regexp.MustCompile(`\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7]|10[0-7])[;m]`)

// With the mono theme the "new messages" line and a mention's mark in the
// status line use no colour, only reverse, bold or underline; the default
// theme colours the mark.
func TestTUIThemeStylesNewMessagesAndMarks(t *testing.T) {
	for _, th := range []string{room.ThemeMono, ""} {
		t.Run("theme="+th, func(t *testing.T) {
			m, hub, cs := unpacedModel(t, 100, 12)
			if th != "" {
				hub.Input(cs, "", "/theme "+th)
			}
			alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(alice.Leave)
			for i := range 30 {
				hub.Input(alice, "", fmt.Sprintf("filler %d", i))
			}
			hub.Input(alice, "", "/join #ops")
			hub.Input(cs, "", "/join #ops")
			hub.Input(cs, "", "/join #lobby")
			readQueued(m, cs)
			press(m, tea.KeyPgUp, 0)
			hub.Input(alice, "", "/join #lobby")
			hub.Input(alice, "", "news")
			hub.Input(alice, "", "/join #ops")
			hub.Input(alice, "", "bob: look at this")
			readQueued(m, cs)
			rows := m.rows()
			banner, status := rows[m.msgs.height-1], rows[m.msgs.height]
			if !strings.Contains(ansi.Strip(banner), "new message") {
				t.Fatalf("no new-messages line: %q", ansi.Strip(banner))
			}
			if !strings.Contains(ansi.Strip(status), "#ops!") {
				t.Fatalf("status line %q lacks the mention's mark", ansi.Strip(status))
			}
			coloured := colourSGR.MatchString(banner + status)
			if th == room.ThemeMono && coloured {
				t.Errorf("mono theme: colour in %q / %q", banner, status)
			}
			if th == "" && !colourSGR.MatchString(status) {
				t.Errorf("default theme: the mention's mark is not coloured: %q", status)
			}
		})
	}
}

// Clearing the line with Ctrl-C and recalling a sent line with Up redraw
// the input rows, caret included.
func TestTUIInputRowsFollowClearAndRecall(t *testing.T) {
	m, _, _ := testModel(t, 60, 12)
	inputRow := func() string { return strings.TrimRight(ansi.Strip(m.rows()[m.msgs.height+1]), " ") }
	typeText(m, "first line")
	press(m, tea.KeyEnter, 0)
	typeText(m, "a draft")
	if got := inputRow(); got != "> a draft" {
		t.Fatalf("input row %q", got)
	}
	press(m, 'c', tea.ModCtrl)
	if got := inputRow(); strings.Contains(got, "draft") {
		t.Fatalf("after Ctrl-C the input row still shows %q", got)
	}
	press(m, tea.KeyUp, 0)
	if got, c := inputRow(), m.caret(); got != "> first line" || c.x != len("> first line") {
		t.Fatalf("after Up the input row is %q, caret at %d", got, c.x)
	}
}

// /help lists the terminal's own keys and command: Ctrl-L, /mouse and the
// wheel; Tab completes /mouse.
func TestTUIHelpListsTheScreenKeys(t *testing.T) {
	m, hub, cs := testModel(t, 120, 60)
	hub.Input(cs, "", "/help")
	readQueued(m, cs)
	log := shownLog(m)
	for _, want := range []string{"Ctrl-L", "/mouse [on|off]", "wheel"} {
		if !strings.Contains(log, want) {
			t.Errorf("/help lacks %q:\n%s", want, log)
		}
	}
	typeText(m, "/mou")
	press(m, tea.KeyTab, 0)
	if got := m.input.Value(); got != "/mouse " {
		t.Errorf("Tab made %q of /mou", got)
	}
}

// A private message to the conversation on screen, while the user reads
// further up, is counted on the new-messages line.
func TestTUINewMessagesCountsPrivateConversation(t *testing.T) {
	m, hub, cs := unpacedModel(t, 80, 10)
	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Leave)
	for i := range 20 {
		hub.Input(alice, "", fmt.Sprintf("/msg bob pm %d", i))
	}
	readQueued(m, cs)
	for range len(m.viewKeys()) {
		if m.pmPeer == "alice" {
			break
		}
		press(m, 'n', tea.ModCtrl)
	}
	if m.pmPeer != "alice" {
		t.Fatalf("no conversation with alice; views %q", m.viewKeys())
	}
	press(m, tea.KeyPgUp, 0)
	hub.Input(alice, "", "/msg bob one more")
	hub.Input(alice, "", "/msg bob and another")
	readQueued(m, cs)
	area := plainArea(m)
	if last := area[len(area)-1]; !strings.Contains(last, "2 new messages") {
		t.Errorf("last row %q, want the count of 2 new messages", last)
	}
}

// Once the interface is left, the terminal wraps lines again (it was told
// not to while the interface ran), the mouse is its own, and then the
// farewell is printed: the conversation's last rows and why it ended.
func TestTUIFarewellAfterTheModesAreRestored(t *testing.T) {
	m, _, _ := testModel(t, 40, 20)
	var out bytes.Buffer
	m.scr = newScreen(&out, colorprofile.TrueColor, 40, 20)
	m.Update(eventsMsg{testMessage(1, "alice", strings.Repeat("a long line that wraps ", 4))})
	m.Update(tea.PasteMsg{Content: "/mouse on"})
	m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	m.View()
	out.Reset()
	m.scr.stop()
	m.scr.writeFarewell(m.farewell(room.ReasonQuit))
	got := out.String()
	wrapOn, mouseOff, leave := strings.Index(got, ansi.SetModeAutoWrap), strings.Index(got, "\x1b[?1000l"), strings.Index(got, ansi.ResetModeAltScreenSaveCursor)
	text := strings.Index(got, "a long line")
	bye := strings.Index(got, "You left the chat.")
	if wrapOn < 0 || mouseOff < 0 || leave < 0 || text < leave || bye < text || wrapOn > leave || mouseOff > leave {
		t.Fatalf("leaving wrote %q", got)
	}
	emu := vt.NewEmulator(40, 20)
	if _, err := emu.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	if screen := ansi.Strip(emu.Render()); !strings.Contains(screen, "You left the chat.") || !strings.Contains(screen, "alice") || strings.Count(screen, "line that wraps") < 3 {
		t.Errorf("the terminal shows:\n%s", screen)
	}
}

package sshchat

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"

	"github.com/tertulia/tertulia/internal/room"
)

// plainArea is the message area as text.
func plainArea(m *tuiModel) []string {
	rows := m.rows()[:m.msgs.height]
	for i := range rows {
		rows[i] = strings.TrimRight(ansi.Strip(rows[i]), " ")
	}
	return rows
}

var backlogNumber = regexp.MustCompile(`backlog (\d+)$`)

// Paging up through stored history, one page loaded at a time, shows every
// message once and in order: loading an older page leaves the screen as it
// was, and the next PgUp goes on from there.
func TestTUIPageUpAcrossHistoryPages(t *testing.T) {
	for _, key := range []tea.KeyPressMsg{{Code: tea.KeyPgUp}, {Code: tea.KeyUp, Mod: tea.ModShift}} {
		t.Run(key.String(), func(t *testing.T) {
			hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<12),
				room.WithHistory(20), room.WithRate(1000, 1000))
			poster, err := hub.Connect(room.Identity{Nick: "poster", Via: room.ViaWeb})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(poster.Leave)
			const total = 130
			for i := 1; i <= total; i++ {
				hub.Input(poster, "", fmt.Sprintf("backlog %d", i))
			}
			cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cs.Leave)
			m := newTUIModel(hub, cs, 60, 12)
			readQueued(m, cs)
			seen := map[int]bool{}
			look := func() (first int) {
				first = -1
				for _, row := range plainArea(m) {
					if g := backlogNumber.FindStringSubmatch(row); g != nil {
						n, _ := strconv.Atoi(g[1])
						seen[n] = true
						if first < 0 {
							first = n
						}
					}
				}
				return first
			}
			look()
			for range 400 {
				m.Update(key)
				before := strings.Join(plainArea(m), "\n")
				readQueued(m, cs) // an older page, if one was asked for
				if after := strings.Join(plainArea(m), "\n"); after != before {
					t.Fatalf("loading older history moved the screen from\n%s\nto\n%s", before, after)
				}
				if look() == 1 {
					break
				}
			}
			for i := 1; i <= total; i++ {
				if !seen[i] {
					t.Fatalf("paging up never showed backlog %d", i)
				}
			}
		})
	}
}

// Sending while scrolled back goes back to the newest line, where the
// answer shows.
func TestTUISendingShowsTheBottom(t *testing.T) {
	hub := room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<12), room.WithRate(1000, 1000))
	cs, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.Leave)
	alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Leave)
	m := newTUIModel(hub, cs, 60, 12)
	for i := range 40 {
		hub.Input(alice, "", fmt.Sprintf("m%02d", i))
	}
	readQueued(m, cs)
	m.Update(tea.KeyPressMsg{Code: tea.KeyPgUp})
	m.Update(tea.KeyPressMsg{Code: tea.KeyPgUp})
	if m.msgs.follow {
		t.Fatal("still at the bottom after PgUp")
	}
	for _, r := range "/me waves" {
		m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	readQueued(m, m.cs)
	if area := strings.Join(plainArea(m), "\n"); !m.msgs.follow || !strings.Contains(area, "* bob waves") {
		t.Fatalf("after sending, the area shows\n%s", area)
	}
}

// Ctrl-L repaints the whole screen, whatever the terminal made of it.
func TestTUICtrlLRepaints(t *testing.T) {
	m, _, _ := testModel(t, 60, 12)
	emu := vt.NewEmulator(60, 12)
	m.scr = newScreen(emu, colorprofile.TrueColor, 60, 12)
	m.Update(eventsMsg{testMessage(1, "alice", "hello")})
	m.View()
	want := emu.String()
	// Something else wrote over the screen.
	_, _ = emu.Write([]byte("\x1b[3;1Hgarbage\x1b[11;5Hmore garbage\r\n\r\n"))
	m.View()
	if emu.String() == want {
		t.Fatal("the screen was not garbled")
	}
	m.Update(tea.KeyPressMsg{Code: 'l', Mod: tea.ModCtrl})
	m.View()
	if got := emu.String(); got != want {
		t.Fatalf("after Ctrl-L the screen is\n%s\nwant\n%s", got, want)
	}
}

// A frame that changes nothing writes nothing: an idle session costs no
// traffic (the caret is the terminal's cursor, which does not blink by
// being redrawn).
func TestTUIIdleWritesNothing(t *testing.T) {
	m, _, _ := testModel(t, 60, 12)
	out := &emuWriter{emu: vt.NewEmulator(60, 12)}
	m.scr = newScreen(out, colorprofile.TrueColor, 60, 12)
	for _, r := range "typing" {
		m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	_, cmd := m.Update(tea.KeyPressMsg{Code: tea.KeyLeft})
	if cmd != nil {
		t.Error("a key press asks for a later update (a blinking caret)")
	}
	m.View()
	before := out.bytes
	for range 10 {
		m.View()
	}
	if n := out.bytes - before; n != 0 {
		t.Errorf("%d bytes written for frames that change nothing", n)
	}
	if pos := out.emu.CursorPosition(); pos.X != 7 || pos.Y != 11 {
		t.Errorf("cursor at %d,%d, want after \"> typin\" on the last row (7,11)", pos.X, pos.Y)
	}
}

// Long message lines wrap at spaces with the rows after the first under
// the text; a word longer than a row is cut.
func TestTUIWordWrapHangingIndent(t *testing.T) {
	m, _, _ := testModel(t, 40, 12)
	m.Update(eventsMsg{testMessage(1, "alice", "morning! anyone tried the new Ethiopian roast? it is very good"),
		testMessage(2, "alice", strings.Repeat("z", 60))})
	ts := testTime.Local().Format("15:04")
	want := []string{
		ts + " <alice> morning! anyone tried the",
		"              new Ethiopian roast? it is",
		"              very good",
		ts + " <alice> zzzzzzzzzzzzzzzzzzzzzzzzzz",
		"              zzzzzzzzzzzzzzzzzzzzzzzzzz",
		"              zzzzzzzz",
	}
	area := plainArea(m)
	got := area[len(area)-len(want):]
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the area ends with\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The input grows to three rows, then scrolls keeping the caret in sight;
// the message area gives it the room.
func TestTUIInputGrowsToThreeRows(t *testing.T) {
	m, _, _ := testModel(t, 40, 12)
	typed := ""
	for i := range 30 {
		word := fmt.Sprintf("w%02d ", i)
		typed += word
		m.Update(tea.PasteMsg{Content: word})
		rows := m.rows()
		n := len(m.inputView.rows)
		if want := min(3, (len(typed)+36)/37); n != want {
			t.Fatalf("after %d characters the input has %d rows, want %d", len(typed), n, want)
		}
		if len(rows) != 12 || m.msgs.height != 12-1-n {
			t.Fatalf("frame of %d rows with %d for messages and %d for the input", len(rows), m.msgs.height, n)
		}
		if c := m.caret(); c.y != 11 {
			t.Fatalf("caret on row %d, not the last", c.y)
		}
	}
	m.Update(tea.KeyPressMsg{Code: tea.KeyHome})
	m.rows()
	if c := m.caret(); c.y != 9 || c.x != 2 || !strings.HasPrefix(m.inputView.rows[0], "> w00") {
		t.Fatalf("after Home the caret is at %d,%d and the input shows %q", c.x, c.y, m.inputView.rows)
	}
}

// The status line keeps the nick, the room and the marks of the other
// rooms before the topic, a mention marked apart from unread; at 40
// columns they still show.
func TestTUIStatusLineKeepsMarks(t *testing.T) {
	for _, w := range []int{40, 100, 160} {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			m, hub, cs := testModel(t, w, 12)
			alice, err := hub.Connect(room.Identity{Nick: "alice", Via: room.ViaWeb})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(alice.Leave)
			for _, r := range []string{"dev", "ops", "a-room-with-a-longer-name"} {
				hub.Input(alice, "", "/join #"+r)
				hub.Input(cs, "", "/join #"+r)
			}
			hub.Input(cs, "", "/topic A topic that is rather long for a narrow status line")
			hub.Input(alice, "", "/join #dev")
			hub.Input(alice, "", "anyone here?")
			hub.Input(alice, "", "/join #ops")
			hub.Input(alice, "", "bob: the deploy is stuck")
			readQueued(m, cs)
			status := strings.TrimSpace(ansi.Strip(m.rows()[m.msgs.height]))
			for _, want := range []string{"bob │ ", "#a-room-with", "#dev*", "#ops!"} {
				if !strings.Contains(status, want) {
					t.Errorf("status line %q lacks %q", status, want)
				}
			}
			if w == 160 && !strings.Contains(status, "│ A topic") {
				t.Errorf("status line %q lacks the topic at %d columns", status, w)
			}
			if i, j := strings.Index(status, "#ops!"), strings.Index(status, "A topic"); j >= 0 && j < i {
				t.Errorf("the topic comes before the marks: %q", status)
			}
		})
	}
}

// /mouse on asks the terminal for wheel reports, the wheel then scrolls,
// and /mouse off gives the mouse back.
func TestTUIMouseWheel(t *testing.T) {
	m, _, _ := testModel(t, 60, 12)
	var out bytes.Buffer
	m.scr = newScreen(&out, colorprofile.TrueColor, 60, 12)
	for i := range 40 {
		m.Update(eventsMsg{testMessage(uint64(i+1), "alice", fmt.Sprintf("m%02d", i))})
	}
	m.View()
	if bytes.Contains(out.Bytes(), []byte("\x1b[?1000h")) {
		t.Fatal("mouse reports asked for by default")
	}
	m.Update(tea.PasteMsg{Content: "/mouse on"})
	m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	m.View()
	if !bytes.Contains(out.Bytes(), []byte("\x1b[?1000h\x1b[?1006h")) {
		t.Fatalf("/mouse on did not ask for reports: %q", out.String())
	}
	m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if m.msgs.follow {
		t.Fatal("the wheel did not scroll up")
	}
	m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if !m.msgs.follow {
		t.Fatal("the wheel did not scroll back down")
	}
	m.Update(tea.PasteMsg{Content: "/mouse off"})
	m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	out.Reset()
	m.View()
	if !bytes.Contains(out.Bytes(), []byte("\x1b[?1000l")) {
		t.Fatalf("/mouse off did not stop reports: %q", out.String())
	}
}

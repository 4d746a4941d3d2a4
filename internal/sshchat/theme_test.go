package sshchat

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	uv "github.com/charmbracelet/ultraviolet"
	"github.com/charmbracelet/x/vt"

	"github.com/tertulia/tertulia/internal/clocktest"
	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

// settingsModel is a terminal session "bob" on a hub with a manual clock,
// drawing on a terminal emulator through the colour profile given, and a
// line-mode session "alice" to talk to it.
func settingsModel(t *testing.T, profile colorprofile.Profile, clock *clocktest.Clock) (m *tuiModel, hub *room.Hub, bob, alice *room.Session, emu *vt.Emulator) {
	t.Helper()
	hub = room.NewHub(room.WithLogger(slog.New(slog.DiscardHandler)), room.WithQueueSize(1<<12), room.WithClock(clock.Now), room.WithRate(1e6, 1e6))
	bob, err := hub.Connect(room.Identity{Nick: "bob", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bob.Leave)
	alice, err = hub.Connect(room.Identity{Nick: "alice", Via: room.ViaSSH})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Leave)
	const w, h = 80, 12
	m = newTUIModel(hub, bob, w, h)
	emu = vt.NewEmulator(w, h)
	m.scr = newScreen(&emuWriter{emu: emu}, profile, w, h)
	m.colour = profile > colorprofile.ASCII
	readQueued(m, bob)
	return m, hub, bob, alice, emu
}

// show hands the model what is queued and draws it.
func show(m *tuiModel, bob *room.Session) {
	readQueued(m, bob)
	m.View()
}

// rowWith is the screen row showing text, -1 if none.
func rowWith(emu *vt.Emulator, text string) int {
	for y, row := range strings.Split(emu.String(), "\n") {
		if strings.Contains(row, text) {
			return y
		}
	}
	return -1
}

// unmarked lists the cells of row y, from its first to its last visible
// character, that are neither bold nor reverse.
func unmarked(emu *vt.Emulator, y int) []string {
	var cells []*uv.Cell
	for x := range emu.Width() {
		cells = append(cells, emu.CellAt(x, y))
	}
	last := len(cells) - 1
	for last >= 0 && (cells[last] == nil || strings.TrimSpace(cells[last].Content) == "") {
		last--
	}
	var out []string
	for x := 0; x <= last; x++ {
		c := cells[x]
		if c == nil || c.Style.Attrs&(uv.AttrBold|uv.AttrReverse) == 0 {
			content := " "
			if c != nil {
				content = c.Content
			}
			out = append(out, content)
		}
	}
	return out
}

// A message naming the user is marked bold or reverse from its first
// character to its last, in every theme and on a terminal without colour
// (NO_COLOR, where the mono theme is the default), live and in history;
// other messages are not.
func TestMentionMarksTheWholeLineWithoutColour(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile colorprofile.Profile
		theme   string
	}{
		{"no colour, no theme chosen", colorprofile.ASCII, ""},
		{"colour, default", colorprofile.ANSI256, "default"},
		{"no colour, default chosen", colorprofile.ASCII, "default"},
		{"no colour, high-contrast", colorprofile.ASCII, "high-contrast"},
		{"colour, light", colorprofile.TrueColor, "light"},
		{"colour, mono", colorprofile.TrueColor, "mono"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := clocktest.New(time.Date(2026, 12, 4, 19, 26, 0, 0, time.UTC))
			m, hub, bob, alice, emu := settingsModel(t, tc.profile, clock)
			hub.Input(alice, "", "said before bob chose, bob: in history")
			if tc.theme != "" {
				hub.Input(bob, "", "/theme "+tc.theme)
			}
			hub.Input(alice, "", "bob: how fine do you grind for that?")
			hub.Input(alice, "", "an ordinary line")
			show(m, bob)
			y := rowWith(emu, "how fine")
			if y < 0 {
				t.Fatalf("mention not shown:\n%s", emu.String())
			}
			if cells := unmarked(emu, y); len(cells) > 0 {
				t.Errorf("mention row %q has %d cells neither bold nor reverse: %q", strings.Split(emu.String(), "\n")[y], len(cells), cells)
			}
			if cells := unmarked(emu, rowWith(emu, "an ordinary line")); len(cells) == 0 {
				t.Error("an ordinary line is marked as a mention")
			}

			// The same messages, shown again from history on joining.
			hub.Input(bob, "", "/part")
			hub.Input(bob, "", "/join #lobby")
			show(m, bob)
			if y := rowWith(emu, "in history"); y < 0 || len(unmarked(emu, y)) > 0 {
				t.Errorf("mention in history not marked (row %d):\n%s", y, emu.String())
			}
		})
	}
}

// /tz and /timestamp change the times the terminal shows: HH:MM in UTC by
// default, the chosen zone's time, a date with datetime, nothing with off.
func TestTimesFollowTheZoneAndTimestampSettings(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 4, 19, 25, 0, 0, time.UTC))
	m, hub, bob, alice, emu := settingsModel(t, colorprofile.TrueColor, clock)
	steps := []struct{ command, text, want string }{
		{"", "first", "19:25 <alice> first"},
		{"/tz Asia/Tokyo", "second", "04:25 <alice> second"},
		{"/timestamp datetime", "third", "2026-12-05 04:25 <alice> third"},
		{"/timestamp off", "fourth", "<alice> fourth"},
		{"/tz UTC", "fifth", "<alice> fifth"},
		{"/timestamp time", "sixth", "19:25 <alice> sixth"},
	}
	for _, step := range steps {
		if step.command != "" {
			hub.Input(bob, "", step.command)
		}
		hub.Input(alice, "", step.text)
		show(m, bob)
		row := strings.TrimSpace(strings.Split(emu.String(), "\n")[max(rowWith(emu, "> "+step.text), 0)])
		if row != step.want {
			t.Errorf("after %q: row %q, want %q", step.command, row, step.want)
		}
	}
}

// /bell: by default on mentions and private messages; on: every message
// from others; off: never.
func TestBellFollowsTheBellSetting(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 4, 19, 25, 0, 0, time.UTC))
	m, hub, bob, alice, _ := settingsModel(t, colorprofile.TrueColor, clock)
	rings := func(lines ...string) int {
		t.Helper()
		m.bells = 0
		for _, l := range lines {
			hub.Input(alice, "", l)
		}
		readQueued(m, bob)
		return m.bells
	}
	all := []string{"plain", "hey bob", "/msg bob psst"}
	if n := rings(all...); n != 2 {
		t.Errorf("default: %d bells for a plain line, a mention and a private message; want 2", n)
	}
	hub.Input(bob, "", "/bell on")
	if n := rings(all...); n != 3 {
		t.Errorf("/bell on: %d bells, want 3", n)
	}
	hub.Input(bob, "", "/bell off")
	if n := rings(all...); n != 0 {
		t.Errorf("/bell off: %d bells, want 0", n)
	}
	hub.Input(bob, "", "/bell mentions")
	if n := rings("hey bob"); n != 1 {
		t.Errorf("/bell mentions: %d bells for a mention, want 1", n)
	}
}

// /quiet hides others' joins and parts from the terminal, whose member
// count still follows them.
func TestQuietHidesJoinsButKeepsTheCount(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 4, 19, 25, 0, 0, time.UTC))
	m, hub, bob, _, emu := settingsModel(t, colorprofile.TrueColor, clock)
	hub.Input(bob, "", "/quiet on")
	carol, err := hub.Connect(room.Identity{Nick: "carol", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(carol.Leave)
	show(m, bob)
	screen := emu.String()
	if strings.Contains(screen, "carol joined") {
		t.Errorf("a join shown under /quiet:\n%s", screen)
	}
	if !strings.Contains(screen, "│ 3 members") {
		t.Errorf("member count not updated:\n%s", screen)
	}
	hub.Input(bob, "", "/quiet off")
	dave, err := hub.Connect(room.Identity{Nick: "dave", Via: room.ViaWeb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dave.Leave)
	show(m, bob)
	if !strings.Contains(emu.String(), "dave joined") {
		t.Errorf("a join hidden after /quiet off:\n%s", emu.String())
	}
}

// Line mode leaves out others' joins, parts and nick changes after /quiet
// on, never the session's own, and writes everything without it.
func TestLineModeQuiet(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 4, 19, 25, 0, 0, time.UTC))
	_, hub, bob, alice, _ := settingsModel(t, colorprofile.TrueColor, clock)
	queued := func() []*room.Event {
		var batch []*room.Event
		for {
			select {
			case ev := <-bob.Events():
				batch = append(batch, ev)
				continue
			default:
			}
			return batch
		}
	}
	lines := func(batch []*room.Event) string {
		var b strings.Builder
		for _, ev := range shownLines(bob, batch) {
			b.Write(ev.Render(room.FormatLine, wire.FormatLine))
		}
		return b.String()
	}
	hub.Input(bob, "", "/quiet on")
	hub.Input(alice, "", "/nick alicia")
	hub.Input(bob, "", "/nick roberto")
	hub.Input(alice, "", "still here")
	got := lines(queued())
	if strings.Contains(got, "alice is now known as alicia") || !strings.Contains(got, "bob is now known as roberto") || !strings.Contains(got, "<alicia> still here") {
		t.Errorf("line mode under /quiet wrote:\n%s", got)
	}
	hub.Input(bob, "", "/quiet off")
	hub.Input(alice, "", "/nick alice")
	if got := lines(queued()); !strings.Contains(got, "alicia is now known as alice") {
		t.Errorf("line mode after /quiet off wrote:\n%s", got)
	}
}

// A private conversation on screen shows its lines as the session's
// settings say (here without times) and rings only as /bell says.
func TestPrivateConversationFollowsTheSettings(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 4, 19, 25, 0, 0, time.UTC))
	m, hub, bob, alice, _ := settingsModel(t, colorprofile.TrueColor, clock)
	hub.Input(alice, "", "/msg bob first")
	readQueued(m, bob)
	for range len(m.viewKeys()) {
		if m.pmPeer == "alice" {
			break
		}
		press(m, 'n', tea.ModCtrl)
	}
	if m.pmPeer != "alice" {
		t.Fatalf("no conversation with alice; views %q", m.viewKeys())
	}
	hub.Input(bob, "", "/timestamp off")
	hub.Input(bob, "", "/bell off")
	readQueued(m, bob)
	m.bells = 0
	hub.Input(alice, "", "/msg bob second")
	readQueued(m, bob)
	if m.bells != 0 {
		t.Errorf("%d bells for a private message under /bell off, want 0", m.bells)
	}
	log := shownLog(m)
	if !strings.Contains(log, "19:25 [pm] alice → bob: first") {
		t.Errorf("the first line lost its time:\n%s", log)
	}
	if !strings.Contains(log, "\n[pm] alice → bob: second") {
		t.Errorf("the line after /timestamp off is not shown without a time:\n%s", log)
	}
	hub.Input(bob, "", "/bell mentions")
	readQueued(m, bob)
	m.bells = 0
	hub.Input(alice, "", "/msg bob third")
	readQueued(m, bob)
	if m.bells != 1 {
		t.Errorf("%d bells for a private message under /bell mentions, want 1", m.bells)
	}
}

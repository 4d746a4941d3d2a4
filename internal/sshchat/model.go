package sshchat

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
)

// eventsMsg is every event that was queued for the session when the pump
// looked, in order: the model files them all and the program draws one
// frame for them, however many there are.
type eventsMsg []*room.Event

type closedMsg struct{ reason room.CloseReason }

// roomView is what the terminal keeps of one joined room.
type roomView struct {
	lines    []line
	oldest   uint64 // smallest message id shown, 0 if none
	newest   uint64 // largest message id shown
	members  int
	topic    string
	unread   bool
	fetching bool // an older page was asked for
}

type tuiModel struct {
	hub    *room.Hub
	cs     *room.Session
	width  int
	height int
	views  map[string]*roomView
	loose  []line // lines before any room was joined
	msgs   scroller
	input  textinput.Model
	// inputView is input.View(), kept until the input changes: events do
	// not change it and it is not cheap.
	inputView  string
	inputStale bool
	// statusKey is the status line as last built and statusView the same
	// truncated, padded and styled.
	statusKey   string
	statusWidth int
	statusView  string
	closing     string
	shown       string // the room the message area shows
	frame       []string
	// scr is the client's terminal (nil in tests); bells are rung with the
	// next frame.
	scr   *screen
	bells int
	// colour: the terminal shows colours (not NO_COLOR, not TERM=dumb);
	// lk is the look of the session's settings, remade when they change.
	colour bool
	lk     *look
}

func newTUIModel(hub *room.Hub, cs *room.Session, width, height int) *tuiModel {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message or /help"
	in.CharLimit = hub.MaxMessage()
	in.Focus()
	m := &tuiModel{hub: hub, cs: cs, input: in, views: map[string]*roomView{}, colour: true}
	m.msgs.follow = true
	m.resize(width, height)
	return m
}

// resize takes the terminal's size, clamped: whatever a client claims, a
// frame costs at most MaxTermSize² cells to build and draw.
func (m *tuiModel) resize(w, h int) {
	w, h = clampTermSize(int64(w), int64(h))
	m.width, m.height = w, h
	m.msgs.setSize(w, max(h-2, 1))
	m.input.SetWidth(max(w-3, 1))
	m.inputStale = true
	if m.scr != nil {
		m.scr.resize(w, h)
	}
}

func (m *tuiModel) Init() tea.Cmd { return nil }

func (m *tuiModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		m.msgs.follow = true
		return m, nil
	case eventsMsg:
		bells := 0
		for _, ev := range msg {
			if m.addEvent(ev) {
				bells++
			}
		}
		m.sync()
		m.bells += bells
		return m, nil
	case closedMsg:
		m.closing = msg.reason.Text
		return m, tea.Quit
	case tea.PasteMsg:
		// The one-line input would flatten the paste's line breaks into
		// spaces: they are kept as marks, and Enter sends one message.
		msg.Content = markLineBreaks(msg.Content)
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		m.inputStale = true
		return m, cmd
	case tea.KeyPressMsg:
		switch msg.String() {
		case "ctrl+c", "ctrl+d":
			m.cs.Close(room.ReasonQuit)
			return m, nil
		case "enter":
			text := strings.ReplaceAll(m.input.Value(), lineBreakMark, "\n")
			m.input.Reset()
			m.inputStale = true
			if strings.TrimSpace(text) != "" {
				m.hub.Input(m.cs, "", text)
			}
			m.sync()
			return m, nil
		case "ctrl+n", "ctrl+p":
			m.cycleRoom(msg.String() == "ctrl+n")
			return m, nil
		case "pgup", "shift+up":
			n := m.msgs.height
			if msg.String() == "shift+up" {
				n = 1
			}
			if m.msgs.scrollUp(n) {
				m.fetchOlder()
			}
			return m, nil
		case "pgdown", "shift+down":
			n := m.msgs.height
			if msg.String() == "shift+down" {
				n = 1
			}
			m.msgs.scrollDown(n)
			return m, nil
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	m.inputStale = true
	return m, cmd
}

// lineBreakMark stands for a line break in the input line, which holds
// one line: a multi-line paste shows its breaks as this mark, and the
// message sent has a line break for each.
const lineBreakMark = "↵"

// markLineBreaks turns a paste's line breaks (LF, CRLF or CR) into marks,
// dropping those at its end: pasting a line with its newline does not make
// a blank second line.
func markLineBreaks(paste string) string {
	lines := room.SplitLines(paste)
	for len(lines) > 1 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, lineBreakMark)
}

func (m *tuiModel) view(name string) *roomView {
	v := m.views[name]
	if v == nil {
		v = &roomView{}
		m.views[name] = v
	}
	return v
}

// addEvent files ev under its room (or the shown room, for personal events)
// and reports whether it mentions the user. The caller syncs the view.
func (m *tuiModel) addEvent(ev *room.Event) (bell bool) {
	target := ev.Room
	switch ev.Kind {
	case room.KindJoin, room.KindMembers:
		m.view(ev.Room).members = ev.Count
	case room.KindPart:
		if ev.From == m.cs.Nick() && ev.Room != "" {
			delete(m.views, ev.Room)
			target = ""
		} else {
			m.view(ev.Room).members = ev.Count
		}
	case room.KindTopic:
		m.view(ev.Room).topic = ev.Text
	case room.KindPresence:
		m.view(ev.Room).members = ev.Count
	case room.KindAway:
		if ev.From == m.cs.Nick() {
			return false // the notice answering /away or /back said it once
		}
	case room.KindHistory:
		m.addHistory(ev)
		return false
	case room.KindPrivate:
		target = ""
	case room.KindMessage:
		v := m.view(ev.Room)
		if ev.ID <= v.newest {
			return false // already shown
		}
		v.newest = ev.ID
		if v.oldest == 0 {
			v.oldest = ev.ID
		}
	case room.KindNick, room.KindWelcome, room.KindNotice, room.KindError, room.KindRooms:
		if ev.Kind != room.KindNick {
			target = ""
		}
	}
	if target == "" {
		target = m.cs.CurrentRoom()
	}
	lk, nick := m.look(), m.cs.Nick()
	if lk.prefs.Hides(ev, nick) {
		return false
	}
	mention := m.mentionsMe(ev, nick)
	text := lk.text(ev, mention)
	bell = lk.bell(ev, mention, nick)
	if target == "" {
		m.loose = appendLines(m.loose, text)
	} else {
		v := m.view(target)
		v.lines = appendLines(v.lines, text)
		if target != m.cs.CurrentRoom() && ev.Kind == room.KindMessage {
			v.unread = true
		}
	}
	return bell
}

// addHistory merges a page of history: on join it continues after what is
// shown; an older page goes on top.
func (m *tuiModel) addHistory(ev *room.Event) {
	v := m.view(ev.Room)
	if ev.Before != 0 {
		v.fetching = false
		var lines []line
		for _, h := range ev.History {
			if v.oldest == 0 || h.ID < v.oldest {
				lines = appendLines(lines, m.historyText(h))
			}
		}
		if len(ev.History) > 0 && (v.oldest == 0 || ev.History[0].ID < v.oldest) {
			v.oldest = ev.History[0].ID
		}
		if len(lines) == 0 {
			return
		}
		v.lines = append(lines, v.lines...)
		if len(v.lines) > scrollback {
			v.lines = v.lines[:scrollback]
		}
		if ev.Room == m.shown {
			m.msgs.setLines(v.lines, false)
			m.msgs.scrollTo(0)
		}
		return
	}
	for _, h := range ev.History {
		if h.ID > v.newest {
			v.lines = appendLines(v.lines, m.historyText(h))
			v.newest = h.ID
			if v.oldest == 0 {
				v.oldest = h.ID
			}
		}
	}
}

// look is how the session's settings show lines, remade when they change.
func (m *tuiModel) look() *look {
	if prefs := m.cs.Preferences(); m.lk == nil || m.lk.prefs != prefs {
		old := m.lk
		m.lk = newLook(prefs, m.colour)
		if old == nil || old.theme != m.lk.theme {
			m.input.SetStyles(m.lk.theme.input())
			m.inputStale = true
		}
	}
	return m.lk
}

// mentionsMe: ev is someone else's message naming the user.
func (m *tuiModel) mentionsMe(ev *room.Event, nick string) bool {
	return ev.Kind == room.KindMessage && ev.From != nick && mentions(ev.Text, nick)
}

// historyText is a stored message as the session shows it, marked if it
// mentions the user.
func (m *tuiModel) historyText(ev *room.Event) string {
	return m.look().text(ev, m.mentionsMe(ev, m.cs.Nick()))
}

func (m *tuiModel) fetchOlder() {
	name := m.cs.CurrentRoom()
	v := m.views[name]
	if v == nil || v.fetching || v.oldest <= 1 {
		return
	}
	v.fetching = true
	m.hub.HistoryRequest(m.cs, name, v.oldest, 50)
}

func (m *tuiModel) cycleRoom(forward bool) {
	rooms := m.cs.Rooms()
	if len(rooms) < 2 {
		return
	}
	cur := m.cs.CurrentRoom()
	i := 0
	for j, r := range rooms {
		if r == cur {
			i = j
		}
	}
	if forward {
		i = (i + 1) % len(rooms)
	} else {
		i = (i + len(rooms) - 1) % len(rooms)
	}
	_ = m.cs.SetCurrentRoom(rooms[i])
	m.sync()
}

// sync points the message area at the session's current room: at its
// bottom when it was following or the room changed.
func (m *tuiModel) sync() {
	cur := m.cs.CurrentRoom()
	if cur == "" {
		m.msgs.setLines(m.loose, m.msgs.follow || m.shown != "")
		m.shown = ""
		return
	}
	v := m.view(cur)
	if len(m.loose) > 0 {
		v.lines = append(m.loose, v.lines...)
		if len(v.lines) > scrollback {
			v.lines = v.lines[len(v.lines)-scrollback:]
		}
		m.loose = nil
	}
	v.unread = false
	m.msgs.setLines(v.lines, m.shown != cur || m.msgs.follow)
	m.shown = cur
}

// statusLine is the reverse-video line under the messages; the styling is
// redone only when its text or the width changes.
func (m *tuiModel) statusLine() string {
	cur := m.cs.CurrentRoom()
	var b strings.Builder
	fmt.Fprintf(&b, " %s", m.cs.Nick())
	if cur != "" {
		v := m.view(cur)
		fmt.Fprintf(&b, " │ #%s │ %d members", cur, v.members)
		if v.topic != "" {
			fmt.Fprintf(&b, " │ %s", v.topic)
		}
	}
	if rooms := m.cs.Rooms(); len(rooms) > 1 {
		b.WriteString(" │")
		for _, r := range rooms {
			b.WriteString(" #" + r)
			if v := m.views[r]; v != nil && v.unread {
				b.WriteString("*")
			}
		}
	}
	b.WriteString(" ")
	status := b.String()
	if m.closing != "" {
		status = " disconnected: " + m.closing + " "
	}
	if status == m.statusKey && m.width == m.statusWidth && m.statusView != "" {
		return m.statusView
	}
	m.statusKey, m.statusWidth = status, m.width
	status = ansi.Truncate(status, m.width, "…")
	m.statusView = statusStyle.Render(status + strings.Repeat(" ", max(m.width-lipgloss.Width(status), 0)))
	return m.statusView
}

// rows is the frame: the message area, the status line, the input line.
func (m *tuiModel) rows() []string {
	if m.inputStale {
		m.inputView = m.input.View()
		m.inputStale = false
	}
	m.frame = m.msgs.appendRows(m.frame[:0])
	m.frame = append(m.frame, m.statusLine(), m.inputView)
	return m.frame
}

// View draws the frame on the terminal, if there is one, and returns it as
// text only when there is none (tests): Bubble Tea's renderer is not used.
func (m *tuiModel) View() tea.View {
	rows := m.rows()
	if m.scr == nil {
		v := tea.NewView(strings.Join(rows, "\n"))
		v.AltScreen = true
		return v
	}
	m.scr.draw(rows, len(rows)-2, m.bells)
	m.bells = 0
	return tea.View{}
}

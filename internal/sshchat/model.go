package sshchat

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
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
	lines     []line
	oldest    uint64 // smallest message id shown, 0 if none
	newest    uint64 // largest message id shown
	members   int
	topic     string
	unread    bool
	mentioned bool // unread, and one of them names the user
	fetching  bool // an older page was asked for
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
	// inputView is the input as drawn (see layoutInput), kept until the
	// input changes: events do not change it.
	inputView  inputLayout
	inputStale bool
	// newBelow counts the messages that came to the shown room while the
	// user reads further up; newBelowView is its line as last drawn, for
	// newBelowShown at newBelowWidth.
	newBelow      int
	newBelowView  string
	newBelowShown int
	newBelowWidth int
	// statusKey is the status line as last built and statusView the same
	// fitted to the width and styled.
	statusKey   string
	statusWidth int
	statusView  string
	closing     string
	shown       string // the room the message area shows
	frame       []string
	// scr is the client's terminal (nil in tests); bells are rung with the
	// next frame.
	scr     *screen
	bells   int
	mouseOn bool // /mouse on: the wheel's reports are asked for
}

func newTUIModel(hub *room.Hub, cs *room.Session, width, height int) *tuiModel {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message or /help"
	in.CharLimit = hub.MaxMessage()
	// The terminal's own cursor marks the caret (see layoutInput): no
	// drawn cursor, so no blinking, so no output while idle.
	in.SetVirtualCursor(false)
	in.Focus()
	m := &tuiModel{hub: hub, cs: cs, input: in, views: map[string]*roomView{}}
	m.msgs.follow = true
	m.resize(width, height)
	return m
}

// resize takes the terminal's size, clamped: whatever a client claims, a
// frame costs at most MaxTermSize² cells to build and draw.
func (m *tuiModel) resize(w, h int) {
	w, h = clampTermSize(int64(w), int64(h))
	m.width, m.height = w, h
	m.input.SetWidth(max(w-3, 1))
	m.inputStale = true
	m.layout()
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
			// Whatever is sent, and its answer, is seen: back to the bottom.
			m.msgs.follow = true
			if m.mouseCommand(text) {
				m.sync()
				return m, nil
			}
			if strings.TrimSpace(text) != "" {
				m.hub.Input(m.cs, "", text)
			}
			m.sync()
			return m, nil
		case "ctrl+l":
			if m.scr != nil {
				m.scr.repaint()
			}
			return m, nil
		case "ctrl+n", "ctrl+p":
			m.cycleRoom(msg.String() == "ctrl+n")
			return m, nil
		case "pgup", "shift+up":
			n := m.msgs.page()
			if msg.String() == "shift+up" {
				n = 1
			}
			m.scrollUp(n)
			return m, nil
		case "pgdown", "shift+down":
			n := m.msgs.page()
			if msg.String() == "shift+down" {
				n = 1
			}
			m.msgs.scrollDown(n)
			return m, nil
		}
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			m.scrollUp(wheelRows)
		case tea.MouseWheelDown:
			m.msgs.scrollDown(wheelRows)
		}
		return m, nil
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
	case room.KindAway:
		if ev.From == m.cs.Nick() {
			return false // the notice answering /away or /back said it once
		}
	case room.KindHistory:
		m.addHistory(ev)
		return false
	case room.KindPrivate:
		target = ""
		bell = ev.From != m.cs.Nick()
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
	text := tuiText(ev)
	if ev.Kind == room.KindMessage && ev.From != m.cs.Nick() && mentions(ev.Text, m.cs.Nick()) {
		text = mentionStyle.Render(text)
		bell = true
	}
	if target == "" {
		m.loose = appendLines(m.loose, text)
	} else {
		v := m.view(target)
		v.lines = appendLines(v.lines, text)
		if target != m.cs.CurrentRoom() && ev.Kind == room.KindMessage {
			v.unread = true
			v.mentioned = v.mentioned || bell
		}
		if target == m.shown && !m.msgs.follow && (ev.Kind == room.KindMessage || ev.Kind == room.KindPrivate) {
			m.newBelow++
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
				lines = appendLines(lines, tuiText(h))
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
			m.msgs.prepended(v.lines, len(lines))
		}
		return
	}
	for _, h := range ev.History {
		if h.ID > v.newest {
			v.lines = appendLines(v.lines, tuiText(h))
			v.newest = h.ID
			if v.oldest == 0 {
				v.oldest = h.ID
			}
		}
	}
}

// wheelRows is how far one notch of the mouse wheel scrolls.
const wheelRows = 3

// scrollUp scrolls the message area n rows up, asking for an older page of
// history as the top comes near.
func (m *tuiModel) scrollUp(n int) {
	if m.msgs.scrollUp(n) {
		m.fetchOlder()
	}
}

// mouseCommand runs /mouse [on|off] (alone: the other of the two), the
// terminal's own command (the wheel is a terminal matter), and reports
// whether text was one. Asking for the wheel's reports makes most
// terminals keep text selection for Shift-drag only, hence off by default.
func (m *tuiModel) mouseCommand(text string) bool {
	fields := strings.Fields(text)
	if len(fields) == 0 || fields[0] != "/mouse" {
		return false
	}
	on := !m.mouseOn
	if len(fields) > 1 {
		if len(fields) > 2 || fields[1] != "on" && fields[1] != "off" {
			m.addLocal(errorStyle.Render("error: usage: /mouse [on|off]"))
			return true
		}
		on = fields[1] == "on"
	}
	if m.scr != nil {
		m.scr.setMouse(on)
	}
	m.mouseOn = on
	note := "The mouse wheel scrolls the messages now; hold Shift to select text. /mouse off gives the mouse back to the terminal."
	if !on {
		note = "The mouse is the terminal's again (text selection as usual). PgUp/PgDn and Shift-Up/Shift-Down scroll; /mouse on scrolls with the wheel."
	}
	m.addLocal(noticeStyle.Render(note))
	return true
}

// addLocal files a line of the interface's own in the shown room.
func (m *tuiModel) addLocal(text string) {
	ts := dimStyle.Render(time.Now().Local().Format("15:04"))
	if cur := m.cs.CurrentRoom(); cur != "" {
		v := m.view(cur)
		v.lines = appendLines(v.lines, ts+" "+text)
	} else {
		m.loose = appendLines(m.loose, ts+" "+text)
	}
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
	v.unread, v.mentioned = false, false
	m.msgs.setLines(v.lines, m.shown != cur || m.msgs.follow)
	m.shown = cur
}

// statusLine is the reverse-video line under the messages: the nick, the
// room, its member count, the other rooms with their marks (* unread, !
// a mention), then the topic, so that what matters most is never cut off.
// When it does not fit, the topic goes first, then the member count, then
// the unmarked rooms. It is not padded to the width (see width.go); the
// styling is redone only when its text or the width changes.
func (m *tuiModel) statusLine() string {
	cur := m.cs.CurrentRoom()
	var nick, roomPart, members, rooms, marked, topic string
	nick = " " + m.cs.Nick()
	if cur != "" {
		v := m.view(cur)
		roomPart = " │ #" + cur
		members = fmt.Sprintf(" │ %d members", v.members)
		if v.topic != "" {
			topic = " │ " + v.topic
		}
	}
	if names := m.cs.Rooms(); len(names) > 1 {
		var all, some strings.Builder
		for _, r := range names {
			mark := ""
			if v := m.views[r]; v != nil && r != cur && v.unread {
				mark = "*"
				if v.mentioned {
					mark = "!"
				}
			}
			all.WriteString(" #" + r + mark)
			if mark != "" {
				some.WriteString(" #" + r + mark)
			}
		}
		rooms = " │" + all.String()
		if some.Len() > 0 {
			marked = " │" + some.String()
		}
	}
	status := nick + roomPart + members + rooms + topic + " "
	if m.closing != "" {
		status = " disconnected: " + m.closing + " "
	}
	if status == m.statusKey && m.width == m.statusWidth && m.statusView != "" {
		return m.statusView
	}
	m.statusKey, m.statusWidth = status, m.width
	if m.closing == "" && !fitsWidth(status, m.width) {
		// What comes before the topic first; the topic in what is left,
		// if enough is; then less and less before it.
		const enough = 12
		lead := nick + roomPart + members + rooms
		if left := m.width - ansi.StringWidth(lead) - widthRisk(lead); left >= enough+len(" │ ") {
			status = lead + ansi.Truncate(topic, left-widthRisk(topic)-1, "…") + " "
		} else {
			for _, try := range []string{
				lead + " ",
				nick + roomPart + rooms + " ",
				nick + roomPart + marked + " ",
				nick + marked + roomPart + " ",
			} {
				status = try
				if fitsWidth(try, m.width) {
					break
				}
			}
		}
	}
	if !fitsWidth(status, m.width) {
		status = ansi.Truncate(status, max(m.width-widthRisk(status)-1, 0), "…")
	}
	m.statusView = statusStyle.Render(status)
	return m.statusView
}

// fitsWidth reports whether plain fits width columns however a terminal
// measures it.
func fitsWidth(plain string, width int) bool {
	return ansi.StringWidth(plain)+widthRisk(plain) <= width
}

// layout sizes the message area to what the status line and the input
// leave of the screen.
func (m *tuiModel) layout() {
	m.inputLines()
	m.msgs.setSize(m.width, max(m.height-1-len(m.inputView.rows), 1))
}

// inputLines lays the input out again if it changed.
func (m *tuiModel) inputLines() {
	if !m.inputStale {
		return
	}
	m.inputStale = false
	m.inputView = layoutInput(m.input.Value(), m.input.Position(), m.width, m.input.Placeholder, m.inputView.rows)
	if h := max(m.height-1-len(m.inputView.rows), 1); h != m.msgs.height {
		m.msgs.setSize(m.width, h)
	}
}

// newBelowLine is the message area's last row while the user reads further
// up: how many messages came since, and how to get to them.
func (m *tuiModel) newBelowLine() string {
	if m.newBelowView != "" && m.newBelowShown == m.newBelow && m.newBelowWidth == m.width {
		return m.newBelowView
	}
	m.newBelowShown, m.newBelowWidth = m.newBelow, m.width
	text := " ↓ more below: PgDn "
	if m.newBelow == 1 {
		text = " 1 new message ↓ PgDn "
	} else if m.newBelow > 1 {
		text = fmt.Sprintf(" %d new messages ↓ PgDn ", m.newBelow)
	}
	if len(text) > m.width-2 {
		text = ansi.Truncate(text, max(m.width-2, 0), "")
	}
	// Reverse video by hand: it changes with every message while the user
	// reads further up, and a lipgloss style costs more than the rest of
	// the frame.
	m.newBelowView = "\x1b[7m" + text + ansi.ResetStyle
	return m.newBelowView
}

// rows is the frame: the message area, the status line, the input's rows.
func (m *tuiModel) rows() []string {
	m.inputLines()
	m.frame = m.msgs.appendRows(m.frame[:0])
	if m.msgs.follow {
		m.newBelow = 0
	} else if n := len(m.frame); n > 0 && m.msgs.height > 1 {
		m.frame[n-1] = m.newBelowLine()
	}
	m.frame = append(m.frame, m.statusLine())
	m.frame = append(m.frame, m.inputView.rows...)
	return m.frame
}

// caret is where the terminal's cursor goes: at the input's caret.
func (m *tuiModel) caret() caret {
	return caret{x: m.inputView.caretX, y: m.height - len(m.inputView.rows) + m.inputView.caretRow}
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
	m.scr.draw(rows, m.msgs.height, m.caret(), m.bells)
	m.bells = 0
	return tea.View{}
}

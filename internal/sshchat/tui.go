package sshchat

import (
	"fmt"
	"hash/fnv"
	"strings"

	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"charm.land/ssh"
	"charm.land/wish/v2/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
)

// scrollback is how many lines a TUI keeps.
const scrollback = 1000

var (
	nickPalette  = []string{"#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#d19a66", "#ff79c6"}
	dimStyle     = lipgloss.NewStyle().Foreground(lipgloss.Color("#808080"))
	noticeStyle  = lipgloss.NewStyle().Foreground(lipgloss.Color("#e5c07b"))
	errorStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("#ff5f5f")).Bold(true)
	statusStyle  = lipgloss.NewStyle().Reverse(true)
	privateStyle = lipgloss.NewStyle().Foreground(lipgloss.Color("#c678dd")).Bold(true)
	mentionStyle = lipgloss.NewStyle().Background(lipgloss.Color("#5f5f00"))
)

func nickStyle(nick string) lipgloss.Style {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(nick)))
	return lipgloss.NewStyle().Foreground(lipgloss.Color(nickPalette[h.Sum32()%uint32(len(nickPalette))])).Bold(true)
}

// renderTUI renders ev as styled lines for the terminal interface. The result
// does not depend on the recipient, so it is computed once per event.
func renderTUI(ev *room.Event) []byte {
	ts := dimStyle.Render(ev.Time.Local().Format("15:04"))
	var line string
	switch ev.Kind {
	case room.KindMessage:
		if ev.Action {
			line = ts + " " + nickStyle(ev.From).Render("* "+ev.From) + " " + ev.Text
		} else {
			line = ts + " " + nickStyle(ev.From).Render("<"+ev.From+">") + " " + ev.Text
		}
	case room.KindJoin:
		line = ts + " " + dimStyle.Render(fmt.Sprintf("--> %s joined #%s (%s)", ev.From, ev.Room, ev.Via))
	case room.KindPart:
		line = ts + " " + dimStyle.Render(fmt.Sprintf("<-- %s left #%s (%s)", ev.From, ev.Room, ev.Text))
	case room.KindNick:
		line = ts + " " + dimStyle.Render(fmt.Sprintf("--- %s is now known as %s", ev.From, ev.To))
	case room.KindMembers:
		line = ts + " " + noticeStyle.Render(fmt.Sprintf("#%s members (%d): %s", ev.Room, len(ev.Members), memberList(ev.Members)))
	case room.KindWelcome:
		line = ts + " " + noticeStyle.Render("Welcome to Tertulia, "+ev.From+". Type /help for commands, /quit to leave; Ctrl-N/Ctrl-P switch rooms, PgUp/PgDn scroll.")
	case room.KindError:
		line = ts + " " + errorStyle.Render("error: "+ev.Text)
	case room.KindPrivate:
		line = ts + " " + privateStyle.Render(fmt.Sprintf("[pm] %s → %s:", ev.From, ev.To)) + " " + ev.Text
	case room.KindTopic:
		if ev.From != "" {
			line = ts + " " + noticeStyle.Render(fmt.Sprintf("--- %s set the topic of #%s: %s", ev.From, ev.Room, ev.Text))
		} else {
			line = ts + " " + noticeStyle.Render(fmt.Sprintf("--- topic of #%s: %s", ev.Room, ev.Text))
		}
	case room.KindRooms:
		parts := []string{noticeStyle.Render(fmt.Sprintf("rooms (%d):", len(ev.RoomList)))}
		for _, r := range ev.RoomList {
			parts = append(parts, noticeStyle.Render(fmt.Sprintf("  #%s (%d) %s", r.Name, r.Count, r.Topic)))
		}
		line = ts + " " + strings.Join(parts, "\n      ")
	default:
		parts := strings.Split(ev.Text, "\n")
		for i, p := range parts {
			parts[i] = noticeStyle.Render(p)
		}
		line = ts + " " + strings.Join(parts, "\n      ")
	}
	return []byte(line)
}

// mentions reports whether text names nick as a whole word, ignoring case.
func mentions(text, nick string) bool {
	lower, n := strings.ToLower(text), strings.ToLower(nick)
	for i := 0; ; {
		j := strings.Index(lower[i:], n)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(n)
		if (start == 0 || !isWordByte(lower[start-1])) && (end == len(lower) || !isWordByte(lower[end])) {
			return true
		}
		i = start + 1
	}
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b >= 0x80
}

type eventMsg struct{ ev *room.Event }

type closedMsg struct{ reason string }

// roomView is what the terminal keeps of one joined room.
type roomView struct {
	lines    []string
	oldest   uint64 // smallest message id shown, 0 if none
	newest   uint64 // largest message id shown
	members  int
	topic    string
	unread   bool
	fetching bool // an older page was asked for
}

type tuiModel struct {
	hub      *room.Hub
	cs       *room.Session
	width    int
	height   int
	views    map[string]*roomView
	loose    []string // lines before any room was joined
	viewport viewport.Model
	input    textinput.Model
	closing  string
	shown    string // the room the viewport shows
}

func newTUIModel(hub *room.Hub, cs *room.Session, width, height int) *tuiModel {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message or /help"
	in.CharLimit = room.DefaultMaxMessage
	in.Focus()
	vp := viewport.New()
	vp.SoftWrap = true
	m := &tuiModel{hub: hub, cs: cs, viewport: vp, input: in, views: map[string]*roomView{}}
	m.resize(width, height)
	return m
}

func (m *tuiModel) resize(w, h int) {
	m.width, m.height = w, h
	m.viewport.SetWidth(w)
	m.viewport.SetHeight(max(h-2, 1))
	m.input.SetWidth(max(w-3, 1))
}

func (m *tuiModel) Init() tea.Cmd { return nil }

func (m *tuiModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		m.viewport.GotoBottom()
		return m, nil
	case eventMsg:
		return m, m.addEvent(msg.ev)
	case closedMsg:
		m.closing = msg.reason
		return m, tea.Quit
	case tea.KeyPressMsg:
		switch msg.String() {
		case "ctrl+c", "ctrl+d":
			m.cs.Close(room.ReasonQuit)
			return m, nil
		case "enter":
			text := m.input.Value()
			m.input.Reset()
			if strings.TrimSpace(text) != "" {
				m.hub.Input(m.cs, "", text)
			}
			m.sync()
			return m, nil
		case "ctrl+n", "ctrl+p":
			m.cycleRoom(msg.String() == "ctrl+n")
			return m, nil
		case "pgup", "shift+up":
			var cmd tea.Cmd
			m.viewport, cmd = m.viewport.Update(msg)
			if m.viewport.AtTop() {
				m.fetchOlder()
			}
			return m, cmd
		case "pgdown", "shift+down":
			var cmd tea.Cmd
			m.viewport, cmd = m.viewport.Update(msg)
			return m, cmd
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
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
// and returns a bell when it mentions the user.
func (m *tuiModel) addEvent(ev *room.Event) tea.Cmd {
	var bell tea.Cmd
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
	case room.KindHistory:
		m.addHistory(ev)
		m.sync()
		return nil
	case room.KindPrivate:
		target = ""
		if ev.From != m.cs.Nick() {
			bell = tea.Raw("\a")
		}
	case room.KindMessage:
		v := m.view(ev.Room)
		if ev.ID <= v.newest {
			return nil // already shown
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
	line := string(ev.Render(room.FormatTUI, renderTUI))
	if ev.Kind == room.KindMessage && ev.From != m.cs.Nick() && mentions(ev.Text, m.cs.Nick()) {
		line = mentionStyle.Render(line)
		bell = tea.Raw("\a")
	}
	if target == "" {
		m.loose = appendCapped(m.loose, line)
	} else {
		v := m.view(target)
		v.lines = appendCapped(v.lines, line)
		if target != m.cs.CurrentRoom() && ev.Kind == room.KindMessage {
			v.unread = true
		}
	}
	m.sync()
	return bell
}

// addHistory merges a page of history: on join it continues after what is
// shown; an older page goes on top.
func (m *tuiModel) addHistory(ev *room.Event) {
	v := m.view(ev.Room)
	var lines []string
	if ev.Before != 0 {
		v.fetching = false
		for _, h := range ev.History {
			if v.oldest == 0 || h.ID < v.oldest {
				lines = append(lines, string(h.Render(room.FormatTUI, renderTUI)))
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
			m.setContent(v, false)
			m.viewport.SetYOffset(0)
		}
		return
	}
	for _, h := range ev.History {
		if h.ID > v.newest {
			v.lines = appendCapped(v.lines, string(h.Render(room.FormatTUI, renderTUI)))
			v.newest = h.ID
			if v.oldest == 0 {
				v.oldest = h.ID
			}
		}
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

// sync points the viewport at the session's current room.
func (m *tuiModel) sync() {
	cur := m.cs.CurrentRoom()
	if cur == "" {
		atBottom := m.viewport.AtBottom()
		m.viewport.SetContentLines(m.loose)
		if atBottom || m.shown != "" {
			m.viewport.GotoBottom()
		}
		m.shown = ""
		return
	}
	v := m.view(cur)
	if len(m.loose) > 0 {
		v.lines = append(m.loose, v.lines...)
		m.loose = nil
	}
	v.unread = false
	m.setContent(v, m.shown != cur || m.viewport.AtBottom())
	m.shown = cur
}

func (m *tuiModel) setContent(v *roomView, bottom bool) {
	m.viewport.SetContentLines(v.lines)
	if bottom {
		m.viewport.GotoBottom()
	}
}

func appendCapped(lines []string, line string) []string {
	lines = append(lines, line)
	if len(lines) > scrollback {
		lines = append(lines[:0:0], lines[len(lines)-scrollback:]...)
	}
	return lines
}

func (m *tuiModel) View() tea.View {
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
	status = ansi.Truncate(status, m.width, "…")
	status = statusStyle.Render(status + strings.Repeat(" ", max(m.width-lipgloss.Width(status), 0)))
	v := tea.NewView(m.viewport.View() + "\n" + status + "\n" + m.input.View())
	v.AltScreen = true
	return v
}

// runTUI serves a session with a PTY.
func (s *Server) runTUI(sess ssh.Session, cs *room.Session) {
	pty, _, _ := sess.Pty()
	model := newTUIModel(s.hub, cs, pty.Window.Width, pty.Window.Height)
	opts := append(bubbletea.MakeOptions(sess), tea.WithoutSignalHandler())
	program := tea.NewProgram(model, opts...)

	// The pump is the only path from the room to this terminal: the sender's
	// goroutine only ever queues.
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		for {
			select {
			case ev := <-cs.Events():
				program.Send(eventMsg{ev})
				cs.Written(ev)
			case <-cs.Done():
				drain(cs, func(ev *room.Event) bool { program.Send(eventMsg{ev}); return true })
				program.Send(closedMsg{cs.CloseReason()})
				return
			}
		}
	}()
	go func() {
		// Window changes and the end of the connection.
		_, winCh, _ := sess.Pty()
		for {
			select {
			case w := <-winCh:
				program.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
			case <-sess.Context().Done():
				cs.Close(room.ReasonClosed)
				program.Quit()
				return
			}
		}
	}()
	if _, err := program.Run(); err != nil {
		s.log.Error("tui", "nick", cs.Nick(), "err", err)
	}
	program.Kill()
	cs.Close(room.ReasonClosed)
	s.awaitWriter(cs, pumpDone)
}

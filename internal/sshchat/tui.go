package sshchat

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"charm.land/ssh"
	"charm.land/wish/v2/bubbletea"
	"github.com/charmbracelet/colorprofile"
	uv "github.com/charmbracelet/ultraviolet"
	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/wire"
)

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
func renderTUI(ev *room.Event) string {
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
		line = ts + " " + noticeStyle.Render(fmt.Sprintf("#%s members (%d): %s", ev.Room, len(ev.Members), tuiMemberList(ev.Members)))
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
	case room.KindMissed:
		line = ts + " " + noticeStyle.Render(wire.MissedText(ev)+" (you fell behind)")
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
	return line
}

// tuiMembersShown is how many names the terminal's member line shows. The
// line names every member otherwise: in a room of thousands it fills the
// screen and is kept by every session that asked. Line mode, whose format is
// a contract, still lists them all.
const tuiMembersShown = 50

func tuiMemberList(members []room.Member) string {
	if len(members) <= tuiMembersShown {
		return wire.MemberList(members)
	}
	return fmt.Sprintf("%s, … and %d more", wire.MemberList(members[:tuiMembersShown]), len(members)-tuiMembersShown)
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
}

func newTUIModel(hub *room.Hub, cs *room.Session, width, height int) *tuiModel {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message or /help"
	in.CharLimit = hub.MaxMessage()
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
	case tea.KeyPressMsg:
		switch msg.String() {
		case "ctrl+c", "ctrl+d":
			m.cs.Close(room.ReasonQuit)
			return m, nil
		case "enter":
			text := m.input.Value()
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
			m.msgs.setLines(v.lines, false)
			m.msgs.scrollTo(0)
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

// teaFPS is how often Bubble Tea wakes each session's renderer loop. With
// the renderer replaced by screen that loop has nothing to draw, and frames
// are drawn as soon as the model changes, whatever this rate; once a second
// is the least it takes (60 by default, which cost idle sessions CPU).
const teaFPS = 1

// maxBatch bounds how many queued events one message carries, so a session
// whose queue never empties still acknowledges what it has shown.
const maxBatch = 256

// teaProgram is what the pump needs of the program.
type teaProgram interface {
	Send(tea.Msg)
	Quit()
}

// pump is the only path from the room to a terminal session: the sender's
// goroutine only ever queues. It passes the queued events to the program in
// batches, acknowledging each, and also window changes and the end of the
// connection, so one goroutine does all three. Window changes come from win,
// which keeps only the latest size: while the program is busy (drawing on a
// peer that does not read, say) they pile up as one, and nothing on the
// connection's side ever waits for the pump. It closes pumpDone once the
// session is over and its queue written.
func pump(cs *room.Session, program teaProgram, win *windowFeed, ctxDone <-chan struct{}, pumpDone chan<- struct{}) {
	events, done := cs.Events(), cs.Done()
	var resized <-chan struct{}
	if win != nil {
		resized = win.Changed()
	}
	for {
		select {
		case ev := <-events:
			// The program keeps the batch: a fresh one each time.
			batch := cs.NextBatch(nil, ev, maxBatch)
			program.Send(eventsMsg(batch))
			cs.Ack(batch)
		case <-done:
			cs.Drain(maxBatch, func(batch []*room.Event) error {
				program.Send(eventsMsg(slices.Clone(batch)))
				return nil
			})
			program.Send(closedMsg{cs.CloseReason()})
			close(pumpDone)
			return
		case <-resized:
			w := win.get()
			program.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
		case <-ctxDone:
			cs.Close(room.ReasonClosed)
			program.Quit()
			// done is closed now: the next turn writes what is queued.
			ctxDone, resized = nil, nil
		}
	}
}

// runTUI serves a session with a PTY.
func (s *Server) runTUI(sess ssh.Session, cs *room.Session) {
	pty, _, _ := sess.Pty()
	// The size comes from the channel's filter, which clamped it and keeps
	// the latest window change (charm's own channel of them is not read:
	// the filter passes none on).
	var win *windowFeed
	if st := connStateOf(sess.Context()); st != nil {
		win = st.shellWindow()
	}
	if win == nil {
		win = newWindowFeed()
		win.set(pty.Window)
	}
	select {
	case <-win.Changed(): // the size read next
	default:
	}
	size := win.get()
	model := newTUIModel(s.hub, cs, size.Width, size.Height)
	// The colour profile wish's options give an emulated PTY.
	profile := colorprofile.Env(append(sess.Environ(), "TERM="+pty.Term))
	model.scr = newScreen(sess, profile, model.width, model.height)
	// Bubble Tea runs the model (Update, View, commands such as the
	// cursor's blinking); screen draws and readKeys reads in place of its
	// renderer and input reader (see why there).
	opts := append(bubbletea.MakeOptions(sess), tea.WithInput(nil),
		tea.WithoutSignalHandler(), tea.WithoutRenderer(), tea.WithFPS(teaFPS),
		// The size the model starts at (pty.Window predates any window
		// change sent before the shell).
		tea.WithWindowSize(model.width, model.height))
	program := tea.NewProgram(model, opts...)
	go readKeys(sess, func(ev uv.Event) { program.Send(ev) })

	pumpDone := make(chan struct{})
	go pump(cs, program, win, sess.Context().Done(), pumpDone)
	if _, err := program.Run(); err != nil {
		s.log.Error("tui", "nick", cs.Nick(), "err", err)
	}
	program.Kill()
	// Closed before the last write, so that a peer that does not read it
	// is cut after the grace (see handle).
	cs.Close(room.ReasonClosed)
	// The event loop is over: the screen is this goroutine's now.
	model.scr.stop()
	s.awaitWriter(cs, pumpDone)
}

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

	"github.com/tertulia/tertulia/internal/room"
)

// scrollback is how many lines a TUI keeps.
const scrollback = 1000

var (
	nickPalette = []string{"#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#d19a66", "#ff79c6"}
	dimStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("#808080"))
	noticeStyle = lipgloss.NewStyle().Foreground(lipgloss.Color("#e5c07b"))
	errorStyle  = lipgloss.NewStyle().Foreground(lipgloss.Color("#ff5f5f")).Bold(true)
	statusStyle = lipgloss.NewStyle().Reverse(true)
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
		line = ts + " " + noticeStyle.Render("Welcome to Tertulia, "+ev.From+". Type /help for commands, /quit to leave.")
	case room.KindError:
		line = ts + " " + errorStyle.Render("error: "+ev.Text)
	default:
		parts := strings.Split(ev.Text, "\n")
		for i, p := range parts {
			parts[i] = noticeStyle.Render(p)
		}
		line = ts + " " + strings.Join(parts, "\n      ")
	}
	return []byte(line)
}

type eventMsg struct{ ev *room.Event }

type closedMsg struct{ reason string }

type tuiModel struct {
	hub      *room.Hub
	cs       *room.Session
	width    int
	height   int
	lines    []string
	members  int
	viewport viewport.Model
	input    textinput.Model
	closing  string
}

func newTUIModel(hub *room.Hub, cs *room.Session, width, height int) *tuiModel {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message or /help"
	in.CharLimit = room.DefaultMaxMessage
	in.Focus()
	vp := viewport.New()
	vp.SoftWrap = true
	m := &tuiModel{hub: hub, cs: cs, viewport: vp, input: in}
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
		m.addEvent(msg.ev)
		return m, nil
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
			return m, nil
		case "pgup", "pgdown", "shift+up", "shift+down":
			var cmd tea.Cmd
			m.viewport, cmd = m.viewport.Update(msg)
			return m, cmd
		}
	case tea.PasteMsg:
		// A paste is typed into the input line; newlines become separate
		// messages only when the user presses enter.
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

func (m *tuiModel) addEvent(ev *room.Event) {
	switch ev.Kind {
	case room.KindJoin, room.KindPart, room.KindMembers:
		if ev.Room == m.cs.CurrentRoom() {
			m.members = ev.Count
		}
	}
	atBottom := m.viewport.AtBottom()
	m.lines = append(m.lines, string(ev.Render(room.FormatTUI, renderTUI)))
	if len(m.lines) > scrollback {
		m.lines = append(m.lines[:0:0], m.lines[len(m.lines)-scrollback:]...)
	}
	m.viewport.SetContentLines(m.lines)
	if atBottom {
		m.viewport.GotoBottom()
	}
}

func (m *tuiModel) View() tea.View {
	status := fmt.Sprintf(" %s │ #%s │ %d members ", m.cs.Nick(), m.cs.CurrentRoom(), m.members)
	if m.closing != "" {
		status = " disconnected: " + m.closing + " "
	}
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

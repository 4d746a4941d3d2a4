package sshchat

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tertulia/tertulia/internal/room"
)

var farewellStyle = lipgloss.NewStyle().Bold(true)

// farewellText is the line left in the user's terminal saying why the
// session ended.
func farewellText(r room.CloseReason) string {
	switch r.Code {
	case room.CodeQuit:
		return "You left the chat."
	case room.CodeStopping:
		return "Disconnected: the server is stopping. Reconnect in a moment; your history will be there."
	case room.CodeFlooding:
		return "Disconnected for flooding: too many lines were refused in a row."
	case room.CodeSlowClient:
		return "Disconnected: your connection fell too far behind."
	case room.CodeKicked, room.CodeBanned:
		// "kicked by alice: reason", "banned by alice"
		return "Disconnected: " + r.Text + "."
	case "":
		return "Disconnected."
	}
	return "Disconnected: " + r.Text + "."
}

// sessionOver tells whether the session has ended.
func (m *tuiModel) sessionOver() bool {
	select {
	case <-m.cs.Done():
		return true
	default:
		return false
	}
}

// farewell is what is left on the terminal's normal screen once the
// full-screen interface is gone: the last screenful of the conversation
// that was on screen, then why the session ended. The alternate screen
// keeps nothing, so without this leaving (or being kicked, or a server
// restart) would wipe both.
func (m *tuiModel) farewell(reason room.CloseReason) []string {
	m.flushGreeting()
	m.msgs.follow = true
	rows := m.msgs.appendRows(nil)
	for len(rows) > 0 && ansi.Strip(rows[len(rows)-1]) == "" {
		rows = rows[:len(rows)-1]
	}
	for len(rows) > 0 && ansi.Strip(rows[0]) == "" {
		rows = rows[1:]
	}
	return append(rows, farewellStyle.Render(farewellText(reason)))
}

// writeFarewell writes rows on the normal screen, after stop: each on a
// line of its own, in plain style at its end, so that the shell's prompt
// comes after them.
func (s *screen) writeFarewell(rows []string) {
	if s.failed || len(rows) == 0 {
		return
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(s.converted.convert(s.profile, r))
		b.WriteString(ansi.ResetStyle + "\r\n")
	}
	s.write([]byte(b.String()))
}

package sshchat

import (
	"fmt"
	"hash/fnv"
	"strings"

	"charm.land/lipgloss/v2"

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
)

func nickStyle(nick string) lipgloss.Style {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(nick)))
	return lipgloss.NewStyle().Foreground(lipgloss.Color(nickPalette[h.Sum32()%uint32(len(nickPalette))])).Bold(true)
}

// renderTUI renders ev as styled lines for the terminal interface, with
// the default theme and times (HH:MM, UTC). The result does not depend on
// the recipient, so it is computed once per event; a session with other
// settings renders its own (see look).
func renderTUI(ev *room.Event) string {
	return defaultTheme.render(ev, ev.Time.UTC().Format("15:04"))
}

// render is ev as th shows it, stamp before it ("" for none).
func (th *theme) render(ev *room.Event, stamp string) string {
	// The theme's styles, under the names of the default theme's.
	dimStyle, noticeStyle, errorStyle, privateStyle, nickStyle := th.dim, th.notice, th.error, th.private, th.nick
	ts := ""
	if stamp != "" {
		ts = dimStyle.Render(stamp)
	}
	var line string
	switch ev.Kind {
	case room.KindMessage:
		if ev.Action {
			line = indentedText(ts+" "+nickStyle(ev.From).Render("* "+ev.From)+" ", ev.Text)
		} else {
			line = indentedText(ts+" "+nickStyle(ev.From).Render("<"+ev.From+">")+" ", ev.Text)
		}
	case room.KindJoin:
		line = ts + " " + dimStyle.Render(fmt.Sprintf("--> %s joined #%s (%s)", ev.From, ev.Room, ev.Via))
	case room.KindPart:
		line = ts + " " + dimStyle.Render(fmt.Sprintf("<-- %s left #%s (%s)", ev.From, ev.Room, ev.Text))
	case room.KindNick:
		line = ts + " " + dimStyle.Render(fmt.Sprintf("--- %s is now known as %s", ev.From, ev.To))
	case room.KindMembers:
		count := fmt.Sprint(len(ev.Members))
		if ev.Paged { // a big room's page: its count, and how to go on
			count = fmt.Sprintf("%d, %d shown", ev.Count, len(ev.Members))
			if ev.Next != "" {
				count += "; more: /names #" + ev.Room + " " + ev.Next
			}
		}
		line = ts + " " + noticeStyle.Render(fmt.Sprintf("#%s members (%s): %s", ev.Room, count, tuiMemberList(ev.Members)))
	case room.KindWelcome:
		line = ts + " " + noticeStyle.Render("Welcome to Tertulia, "+ev.From+". Type /help for commands, /quit to leave; Ctrl-N/Ctrl-P switch rooms, PgUp/PgDn scroll.")
	case room.KindError:
		line = ts + " " + errorStyle.Render("error: "+ev.Text)
	case room.KindPrivate:
		head := fmt.Sprintf("[pm] %s → %s:", ev.From, ev.To)
		if ev.Missed {
			// Kept while this user was offline: when it was sent, in full
			// (in UTC: the rendering is shared by every recipient).
			head = fmt.Sprintf("[pm] %s → %s (missed, sent %s):", ev.From, ev.To, ev.Time.UTC().Format("2006-01-02 15:04 UTC"))
		}
		line = indentedText(ts+" "+privateStyle.Render(head)+" ", ev.Text)
	case room.KindTopic:
		if ev.From != "" {
			line = ts + " " + noticeStyle.Render(fmt.Sprintf("--- %s set the topic of #%s: %s", ev.From, ev.Room, ev.Text))
		} else {
			line = ts + " " + noticeStyle.Render(fmt.Sprintf("--- topic of #%s: %s", ev.Room, ev.Text))
		}
	case room.KindMissed:
		line = ts + " " + noticeStyle.Render(wire.MissedText(ev)+" (you fell behind)")
	case room.KindPresence:
		line = ts + " " + dimStyle.Render(fmt.Sprintf("--- #%s: %s", ev.Room, wire.PresenceText(ev)))
	case room.KindAway:
		if ev.Text != "" {
			line = ts + " " + dimStyle.Render(fmt.Sprintf("--- %s is away: %s", ev.From, ev.Text))
		} else {
			line = ts + " " + dimStyle.Render(fmt.Sprintf("--- %s is back", ev.From))
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
	if ts == "" {
		line = strings.TrimPrefix(line, " ") // the space after the stamp
	}
	return line
}

// indentedText is head followed by a message's text, whose lines after the
// first start under its first: a continuation line is never mistaken for
// a message of its own, nor can it pose as one by starting with a time
// and a nick.
func indentedText(head, text string) string {
	if !strings.Contains(text, "\n") {
		return head + text
	}
	indent := strings.Repeat(" ", lipgloss.Width(head))
	lines := strings.Split(text, "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] != "" {
			lines[i] = indent + lines[i]
		}
	}
	return head + strings.Join(lines, "\n")
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

package wire

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/tertulia/tertulia/internal/room"
)

// FormatLine renders ev for line mode: one plain line per event (several
// for a multi-line message or notice, the room list or a history), naming
// the room and the sender, with no escape sequences.
func FormatLine(ev *room.Event) []byte {
	var b bytes.Buffer
	appendLine(&b, ev)
	return b.Bytes()
}

// appendLine writes ev's lines to b and tells whether its kind has lines of
// its own; an unknown kind is written as a notice of its text.
func appendLine(b *bytes.Buffer, ev *room.Event) (known bool) {
	switch ev.Kind {
	case room.KindMessage:
		if ev.Action {
			appendText(b, fmt.Sprintf("#%s * %s ", ev.Room, ev.From), "#"+ev.Room+" |", ev.Text)
		} else {
			appendText(b, fmt.Sprintf("#%s <%s> ", ev.Room, ev.From), "#"+ev.Room+" |", ev.Text)
		}
	case room.KindJoin:
		fmt.Fprintf(b, "#%s --> %s joined (%s)\n", ev.Room, ev.From, ev.Via)
	case room.KindPart:
		fmt.Fprintf(b, "#%s <-- %s left (%s)\n", ev.Room, ev.From, ev.Text)
	case room.KindNick:
		fmt.Fprintf(b, "#%s --- %s is now known as %s\n", ev.Room, ev.From, ev.To)
	case room.KindMembers:
		if !ev.Paged {
			fmt.Fprintf(b, "#%s members (%d): %s\n", ev.Room, len(ev.Members), MemberList(ev.Members))
			break
		}
		fmt.Fprintf(b, "#%s members (%d): %s\n", ev.Room, ev.Count, MemberList(ev.Members))
		if ev.Next != "" {
			fmt.Fprintf(b, "-!- more members of #%s: /names #%s %s\n", ev.Room, ev.Room, ev.Next)
		}
	case room.KindPresence:
		fmt.Fprintf(b, "#%s -!- %s\n", ev.Room, PresenceText(ev))
	case room.KindWelcome:
		fmt.Fprintf(b, "-!- welcome %s\n", ev.From)
	case room.KindError:
		fmt.Fprintf(b, "-!- error: %s\n", ev.Text)
	case room.KindPrivate:
		if ev.Missed {
			// Kept while the recipient was offline: its time, as a
			// history line has.
			appendText(b, fmt.Sprintf("[pm] @%s %s -> %s: ", ev.Time.UTC().Format(TimeFormat), ev.From, ev.To), "[pm] |", ev.Text)
		} else {
			appendText(b, fmt.Sprintf("[pm] %s -> %s: ", ev.From, ev.To), "[pm] |", ev.Text)
		}
	case room.KindSettings:
		// Not written: line mode has no settings to apply; /set lists them.
	case room.KindTopic:
		if ev.From != "" {
			fmt.Fprintf(b, "#%s --- topic: %s (set by %s)\n", ev.Room, ev.Text, ev.From)
		} else {
			fmt.Fprintf(b, "#%s --- topic: %s\n", ev.Room, ev.Text)
		}
	case room.KindRooms:
		fmt.Fprintf(b, "-!- rooms (%d):\n", len(ev.RoomList))
		for _, r := range ev.RoomList {
			fmt.Fprintf(b, "-!-   #%s (%d) %s\n", r.Name, r.Count, r.Topic)
		}
	case room.KindMissed:
		fmt.Fprintf(b, "-!- %s\n", MissedText(ev))
	case room.KindAway:
		// Words, not "---": an older parser reads "--- X is now known as
		// Y" in any "---" line, and a reason may say that.
		if ev.Text != "" {
			fmt.Fprintf(b, "#%s away %s: %s\n", ev.Room, ev.From, ev.Text)
		} else {
			fmt.Fprintf(b, "#%s back %s\n", ev.Room, ev.From)
		}
	case room.KindRead:
		// Not "-!-": an older parser would take it for a notice.
		if ev.Room != "" {
			fmt.Fprintf(b, "#%s read up to %d\n", ev.Room, ev.ID)
		} else {
			fmt.Fprintf(b, "[pm] %s read up to %d\n", ev.To, ev.ID)
		}
	case room.KindHistory:
		// History lines carry their time, so that they cannot be taken for
		// live messages.
		for _, m := range ev.History {
			at := "#" + m.Room + " @" + m.Time.UTC().Format(TimeFormat)
			if m.Action {
				appendText(b, fmt.Sprintf("%s * %s ", at, m.From), at+" |", m.Text)
			} else {
				appendText(b, fmt.Sprintf("%s <%s> ", at, m.From), at+" |", m.Text)
			}
		}
	case room.KindNotice:
		noticeLines(b, ev.Text)
	default:
		noticeLines(b, ev.Text)
		return false
	}
	return true
}

// appendText writes a message's text: its first line after head, as
// always, and each further line as cont, a space and the line (cont alone
// for a blank line). cont ends in '|' where a line's kind is told ("#lobby
// |", "#lobby @TIME |", "[pm] |"): no line of the older format has it
// there, so a parser of that format skips continuation lines rather than
// take them for messages, and one that knows them appends each to the text
// of the message on the line before, after a line break.
func appendText(b *bytes.Buffer, head, cont, text string) {
	first, rest, more := strings.Cut(text, "\n")
	b.WriteString(head)
	b.WriteString(first)
	b.WriteByte('\n')
	for more {
		var line string
		line, rest, more = strings.Cut(rest, "\n")
		b.WriteString(cont)
		if line != "" {
			b.WriteByte(' ')
			b.WriteString(line)
		}
		b.WriteByte('\n')
	}
}

func noticeLines(b *bytes.Buffer, text string) {
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprintf(b, "-!- %s\n", l)
	}
}

// PresenceText is a presence summary in words: "+12 joined, 3 left,
// 1 renamed, 2 away, 1 back, 4,210 members"; changes that did not happen
// are left out, the member count never.
func PresenceText(ev *room.Event) string {
	var p room.PresenceSummary
	if ev.Presence != nil {
		p = *ev.Presence
	}
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf(what, thousands(n)))
		}
	}
	add(len(p.Joined)+p.JoinedMore, "+%s joined")
	add(len(p.Left)+p.LeftMore, "%s left")
	add(len(p.Nicks)+p.NicksMore, "%s renamed")
	add(len(p.GoneAway)+p.GoneAwayMore, "%s away")
	add(len(p.Back)+p.BackMore, "%s back")
	parts = append(parts, thousands(ev.Count)+" members")
	return strings.Join(parts, ", ")
}

// thousands writes n with a comma between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// MissedText tells a session that fell behind what it was not sent.
func MissedText(ev *room.Event) string {
	if ev.Room == "" {
		return fmt.Sprintf("missed %d private messages", ev.Count)
	}
	return fmt.Sprintf("missed %d messages in #%s", ev.Count, ev.Room)
}

// MemberList lists members as line mode shows them: "alice (ssh,
// registered, away), bob (web)".
func MemberList(members []room.Member) string {
	parts := make([]string, len(members))
	for i, m := range members {
		tags := string(m.Via)
		if m.Registered {
			tags += ", registered"
		}
		if m.Away != "" {
			tags += ", away"
		}
		parts[i] = m.Nick + " (" + tags + ")"
	}
	return strings.Join(parts, ", ")
}

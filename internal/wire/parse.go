package wire

import (
	"strconv"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/room"
)

// LineEvent is one line of line-mode output as a client reads it. Which
// fields are set depends on Kind, as in room.Event.
type LineEvent struct {
	// Kind is KindHistory for one stored message of a history (Time set),
	// KindRooms for the header of a room list (Room empty, Count rooms) or
	// one of its rooms (Room, Count members, Text topic).
	Kind   room.Kind
	Room   string // without '#'; for missed, "" means private messages
	From   string // sender, joiner or parter, old nick, topic setter, welcomed nick, member gone away or back
	To     string // new nick, recipient of a private message
	Text   string // message, part reason, topic, notice or error text, away reason ("" when back); a members line's list (see ParseMemberList)
	Action bool
	Via    string    // the joiner's front-end
	Time   time.Time // when a history message, or a missed private message, was sent
	// Missed: a private message kept while its recipient was offline,
	// delivered at their connection.
	Missed bool
	Count  int // members (members lines, presence summaries), rooms, missed messages
	// ID is a read line's message id: the read marker of Room, or of the
	// private conversation with From, is there.
	ID uint64
	// Continued: the line continues the text of the message (KindMessage,
	// KindHistory or KindPrivate) on the line before; append a line break
	// and Text to it. Only Kind, Room, Time and Text are set.
	Continued bool
}

// ParseLine reads one line of line-mode output (without its '\n'), the
// inverse of FormatLine. A notice whose text looks like another line is read
// as that line: the format cannot tell them apart. Lines of kinds added
// later are not recognised (ok false): clients skip them.
func ParseLine(line string) (ev LineEvent, ok bool) {
	switch {
	case strings.HasPrefix(line, "#"):
		return parseRoomLine(line)
	case line == "[pm] |" || strings.HasPrefix(line, "[pm] | "):
		return LineEvent{Kind: room.KindPrivate, Text: continuedText(line[len("[pm] |"):]), Continued: true}, true
	case strings.HasPrefix(line, "[pm] @"):
		ts, rest, ok0 := strings.Cut(line[len("[pm] @"):], " ")
		t, err := time.Parse(TimeFormat, ts)
		from, rest, ok1 := strings.Cut(rest, " -> ")
		to, text, ok2 := strings.Cut(rest, ": ")
		return LineEvent{Kind: room.KindPrivate, From: from, To: to, Text: text, Time: t, Missed: true}, ok0 && err == nil && ok1 && ok2
	case strings.HasPrefix(line, "[pm] ") && !strings.Contains(line, " -> "):
		nick, id, ok := strings.Cut(line[len("[pm] "):], " read up to ")
		n, err := strconv.ParseUint(id, 10, 64)
		return LineEvent{Kind: room.KindRead, From: nick, ID: n}, ok && err == nil && nick != ""
	case strings.HasPrefix(line, "[pm] "):
		from, rest, ok1 := strings.Cut(line[len("[pm] "):], " -> ")
		to, text, ok2 := strings.Cut(rest, ": ")
		return LineEvent{Kind: room.KindPrivate, From: from, To: to, Text: text}, ok1 && ok2
	case strings.HasPrefix(line, "-!- "):
		return parseSessionLine(line[len("-!- "):]), true
	}
	return LineEvent{}, false
}

// parseRoomLine reads "#room ...".
func parseRoomLine(line string) (LineEvent, bool) {
	name, rest, ok := strings.Cut(line[1:], " ")
	if !ok {
		return LineEvent{}, false
	}
	ev := LineEvent{Room: name}
	if strings.HasPrefix(rest, "@") {
		ts, msg, ok := strings.Cut(rest[1:], " ")
		t, err := time.Parse(TimeFormat, ts)
		if !ok || err != nil {
			return LineEvent{}, false
		}
		ev.Kind, ev.Time = room.KindHistory, t
		return parseMessage(ev, msg)
	}
	switch {
	case rest == "|" || strings.HasPrefix(rest, "| "):
		ev.Kind, ev.Text, ev.Continued = room.KindMessage, continuedText(rest[1:]), true
		return ev, true
	case strings.HasPrefix(rest, "--> "):
		nick, via, ok := strings.Cut(rest[len("--> "):], " joined (")
		ev.Kind, ev.From, ev.Via = room.KindJoin, nick, strings.TrimSuffix(via, ")")
		return ev, ok
	case strings.HasPrefix(rest, "<-- "):
		nick, reason, ok := strings.Cut(rest[len("<-- "):], " left (")
		ev.Kind, ev.From, ev.Text = room.KindPart, nick, strings.TrimSuffix(reason, ")")
		return ev, ok
	case strings.HasPrefix(rest, "--- topic: "):
		ev.Kind, ev.Text = room.KindTopic, rest[len("--- topic: "):]
		if i := strings.LastIndex(ev.Text, " (set by "); i >= 0 && strings.HasSuffix(ev.Text, ")") {
			ev.Text, ev.From = ev.Text[:i], ev.Text[i+len(" (set by "):len(ev.Text)-1]
		}
		return ev, true
	case strings.HasPrefix(rest, "--- "):
		old, nick, ok := strings.Cut(rest[len("--- "):], " is now known as ")
		ev.Kind, ev.From, ev.To = room.KindNick, old, nick
		return ev, ok
	case strings.HasPrefix(rest, "away "):
		nick, reason, ok := strings.Cut(rest[len("away "):], ": ")
		ev.Kind, ev.From, ev.Text = room.KindAway, nick, reason
		return ev, ok && nick != ""
	case strings.HasPrefix(rest, "back "):
		ev.Kind, ev.From = room.KindAway, rest[len("back "):]
		return ev, ev.From != ""
	case strings.HasPrefix(rest, "-!- "):
		// A presence summary: its words, and the member count it ends with.
		ev.Kind, ev.Text = room.KindPresence, rest[len("-!- "):]
		last := ev.Text
		if i := strings.LastIndex(last, ", "); i >= 0 {
			last = last[i+len(", "):]
		}
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSuffix(last, " members"), ",", ""))
		ev.Count = n
		return ev, err == nil && strings.HasSuffix(last, " members")
	case strings.HasPrefix(rest, "read up to "):
		n, err := strconv.ParseUint(rest[len("read up to "):], 10, 64)
		ev.Kind, ev.ID = room.KindRead, n
		return ev, err == nil
	case strings.HasPrefix(rest, "members ("):
		count, list, ok := strings.Cut(rest[len("members ("):], "): ")
		n, err := strconv.Atoi(count)
		ev.Kind, ev.Count, ev.Text = room.KindMembers, n, list
		return ev, ok && err == nil
	}
	ev.Kind = room.KindMessage
	return parseMessage(ev, rest)
}

// continuedText is the text of a continuation line after its '|'.
func continuedText(s string) string { return strings.TrimPrefix(s, " ") }

// parseMessage reads "<nick> text", "* nick text" or a continuation "| text"
// into ev.
func parseMessage(ev LineEvent, msg string) (LineEvent, bool) {
	var ok bool
	switch {
	case msg == "|" || strings.HasPrefix(msg, "| "):
		ev.Text, ev.Continued, ok = continuedText(msg[1:]), true, true
	case strings.HasPrefix(msg, "<"):
		ev.From, ev.Text, ok = strings.Cut(msg[1:], "> ")
	case strings.HasPrefix(msg, "* "):
		ev.Action = true
		ev.From, ev.Text, ok = strings.Cut(msg[2:], " ")
	}
	return ev, ok
}

// parseSessionLine reads what follows "-!- ".
func parseSessionLine(s string) LineEvent {
	switch {
	case strings.HasPrefix(s, "welcome "):
		return LineEvent{Kind: room.KindWelcome, From: s[len("welcome "):]}
	case strings.HasPrefix(s, "error: "):
		return LineEvent{Kind: room.KindError, Text: s[len("error: "):]}
	case strings.HasPrefix(s, "rooms (") && strings.HasSuffix(s, "):"):
		if n, err := strconv.Atoi(s[len("rooms (") : len(s)-2]); err == nil {
			return LineEvent{Kind: room.KindRooms, Count: n}
		}
	case strings.HasPrefix(s, "  #"):
		name, rest, ok1 := strings.Cut(s[len("  #"):], " (")
		count, topic, ok2 := strings.Cut(rest, ") ")
		if n, err := strconv.Atoi(count); ok1 && ok2 && err == nil {
			return LineEvent{Kind: room.KindRooms, Room: name, Count: n, Text: topic}
		}
	case strings.HasPrefix(s, "missed "):
		count, what, _ := strings.Cut(s[len("missed "):], " ")
		n, err := strconv.Atoi(count)
		if err != nil {
			break
		}
		if what == "private messages" {
			return LineEvent{Kind: room.KindMissed, Count: n}
		}
		if name, ok := strings.CutPrefix(what, "messages in #"); ok {
			return LineEvent{Kind: room.KindMissed, Room: name, Count: n}
		}
	}
	return LineEvent{Kind: room.KindNotice, Text: s}
}

// ParseMemberList reads a members line's list, the inverse of MemberList.
// An away member's reason is not in line mode: Away is "away".
func ParseMemberList(list string) []room.Member {
	if list == "" {
		return nil
	}
	var members []room.Member
	for list != "" {
		nick, rest, _ := strings.Cut(list, " (")
		tags, after, _ := strings.Cut(rest, ")")
		list = strings.TrimPrefix(after, ", ")
		m := room.Member{Nick: nick}
		for i, tag := range strings.Split(tags, ", ") {
			switch {
			case i == 0:
				m.Via = room.Via(tag)
			case tag == "registered":
				m.Registered = true
			case tag == "away":
				m.Away = "away"
			}
		}
		members = append(members, m)
	}
	return members
}

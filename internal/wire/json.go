package wire

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tertulia/tertulia/internal/room"
)

// EncodeEvent renders ev as one JSON text frame. It is called once per
// event, whatever the number of web recipients (see room.Event.Render).
func EncodeEvent(ev *room.Event) []byte {
	b, _ := encodeEvent(ev)
	return b
}

// encodeEvent is EncodeEvent that also tells whether ev's kind has a frame
// of its own; an unknown kind is sent as a notice of its text.
func encodeEvent(ev *room.Event) (frame []byte, known bool) {
	var v any
	known = true
	switch ev.Kind {
	case room.KindMessage:
		v = MessageFrame{"message", ev.ID, ev.Room, ev.From, ev.Text, ev.Time.UTC().Format(TimeFormat), ev.Action, ev.CID}
	case room.KindJoin:
		v = PresenceFrame{Type: "join", Room: ev.Room, Nick: ev.From, Via: ev.Via, Registered: ev.Registered, Bot: ev.Bot, Count: ev.Count}
	case room.KindPart:
		v = PresenceFrame{Type: "part", Room: ev.Room, Nick: ev.From, Reason: ev.Text, Count: ev.Count}
	case room.KindNick:
		v = NickFrame{"nick", ev.Room, ev.From, ev.To, ev.Registered}
	case room.KindMembers:
		members := ev.Members
		if members == nil {
			members = []room.Member{}
		}
		if ev.Paged {
			v = MembersPageFrame{"members", ev.Room, ev.Cursor, members, ev.Count, ev.Next}
		} else {
			v = MembersFrame{"members", ev.Room, members}
		}
	case room.KindPresence:
		v = presenceFrame(ev)
	case room.KindWelcome:
		v = WelcomeFrame{"welcome", ev.From, ev.Rooms, ev.MaxMessage, ev.MaxLines}
	case room.KindNotice:
		v = NoticeFrame{"notice", ev.Text}
	case room.KindPrivate:
		v = PrivateFrame{"private", ev.ID, ev.From, ev.To, ev.Text, ev.Time.UTC().Format(TimeFormat), ev.Missed, ev.Waiting, ev.CID}
	case room.KindTopic:
		v = TopicFrame{"topic", ev.Room, ev.Text, ev.From, ev.Time.UTC().Format(TimeFormat)}
	case room.KindRooms:
		rooms := ev.RoomList
		if rooms == nil {
			rooms = []room.RoomInfo{}
		}
		v = RoomsFrame{"rooms", rooms}
	case room.KindHistory:
		return encodeHistory(ev), true
	case room.KindError:
		v = ErrorFrame{"error", ev.Code, ev.Text, ev.CID}
	case room.KindAway:
		v = AwayFrame{"away", ev.Room, ev.From, ev.Text}
	case room.KindSettings:
		v = settingsFrame(ev)
	case room.KindRead:
		v = ReadFrame{"read", ev.Room, ev.To, ev.ID}
	case room.KindMissed:
		v = MissedFrame{Type: "missed", Room: ev.Room, Private: ev.Room == "", Count: ev.Count}
	default:
		v, known = NoticeFrame{"notice", ev.Text}, false
	}
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for these types
		return []byte(`{"type":"error","code":"internal","text":"encoding failed"}`), known
	}
	return b, known
}

// presenceFrame is a presence summary's frame, every list [] rather than
// null.
func presenceFrame(ev *room.Event) PresenceSummaryFrame {
	var p room.PresenceSummary
	if ev.Presence != nil {
		p = *ev.Presence
	}
	names := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	nicks := p.Nicks
	if nicks == nil {
		nicks = []room.NickChange{}
	}
	return PresenceSummaryFrame{Type: "presence", Room: ev.Room,
		PresenceChanges: PresenceChanges{
			Joined: names(p.Joined), JoinedMore: p.JoinedMore,
			Left: names(p.Left), LeftMore: p.LeftMore,
			Nicks: nicks, NicksMore: p.NicksMore,
			GoneAway: names(p.GoneAway), GoneAwayMore: p.GoneAwayMore,
			Back: names(p.Back), BackMore: p.BackMore,
		},
		Count: ev.Count}
}

// encodeHistory splices the messages' own cached frames into one history
// frame: the message objects are exactly the live ones.
func encodeHistory(ev *room.Event) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"history","room":`)
	name, _ := json.Marshal(ev.Room)
	b.Write(name)
	switch {
	case ev.Forward:
		fmt.Fprintf(&b, `,"after":%d,"more":%t`, ev.After, ev.More)
	case ev.Before != 0:
		fmt.Fprintf(&b, `,"before":%d,"more":%t`, ev.Before, ev.More)
	default: // the history sent on joining: more says whether older ones are stored
		fmt.Fprintf(&b, `,"more":%t`, ev.More)
	}
	b.WriteString(`,"messages":[`)
	for i, m := range ev.History {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m.Render(room.FormatJSON, EncodeEvent))
	}
	b.WriteString("]}")
	return b.Bytes()
}

// EncodeError is the error frame for code and text, for answers that are
// not events of a session (a refused hello).
func EncodeError(code, text string) []byte {
	b, _ := json.Marshal(ErrorFrame{Type: "error", Code: code, Text: text})
	return b
}

// EncodePong is the answer to a ping with id (as sent; empty for none).
func EncodePong(id json.RawMessage) []byte {
	b, _ := json.Marshal(PongFrame{"pong", id})
	return b
}

// settingsFrame is a settings event's frame; no lists are null.
func settingsFrame(ev *room.Event) SettingsFrame {
	f := SettingsFrame{Type: "settings", Settings: map[string]string{}, Ignore: []string{}}
	p := ev.Prefs
	if p == nil {
		return f
	}
	for _, v := range p.Values() {
		f.Settings[v.Name] = v.Value
	}
	for _, ig := range p.Ignored {
		f.Ignore = append(f.Ignore, ig.Nick)
	}
	return f
}

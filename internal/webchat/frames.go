package webchat

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tertulia/tertulia/internal/room"
)

// TimeFormat is RFC 3339 with milliseconds, in UTC.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// clientFrame is any frame a browser or bot sends. Fields unused by a type
// are ignored.
type clientFrame struct {
	Type   string `json:"type"`
	Nick   string `json:"nick,omitempty"`
	Room   string `json:"room,omitempty"`
	Text   string `json:"text,omitempty"`
	Before uint64 `json:"before,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

type welcomeFrame struct {
	Type  string   `json:"type"`
	Nick  string   `json:"nick"`
	Rooms []string `json:"rooms"`
}

type messageFrame struct {
	Type   string `json:"type"`
	ID     uint64 `json:"id"`
	Room   string `json:"room"`
	From   string `json:"from"`
	Text   string `json:"text"`
	TS     string `json:"ts"`
	Action bool   `json:"action"`
}

type presenceFrame struct {
	Type       string   `json:"type"` // join or part
	Room       string   `json:"room"`
	Nick       string   `json:"nick"`
	Via        room.Via `json:"via,omitempty"`
	Registered bool     `json:"registered"`
	Reason     string   `json:"reason,omitempty"`
	Count      int      `json:"count"`
}

type nickFrame struct {
	Type       string `json:"type"`
	Room       string `json:"room"`
	Old        string `json:"old"`
	New        string `json:"new"`
	Registered bool   `json:"registered"`
}

type membersFrame struct {
	Type    string        `json:"type"`
	Room    string        `json:"room"`
	Members []room.Member `json:"members"`
}

type privateFrame struct {
	Type string `json:"type"`
	ID   uint64 `json:"id"`
	From string `json:"from"`
	To   string `json:"to"`
	Text string `json:"text"`
	TS   string `json:"ts"`
}

type topicFrame struct {
	Type  string `json:"type"`
	Room  string `json:"room"`
	Topic string `json:"topic"`
	By    string `json:"by,omitempty"`
	TS    string `json:"ts"`
}

type roomsFrame struct {
	Type  string          `json:"type"`
	Rooms []room.RoomInfo `json:"rooms"`
}

type noticeFrame struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// missedFrame tells a client that fell behind how many messages of room
// (or, with private, private messages) it was not sent.
type missedFrame struct {
	Type    string `json:"type"`
	Room    string `json:"room,omitempty"`
	Private bool   `json:"private,omitempty"`
	Count   int    `json:"count"`
}

type errorFrame struct {
	Type string `json:"type"`
	Code string `json:"code"`
	Text string `json:"text"`
}

// encodeEvent renders ev as one JSON text frame. It is called once per
// event, whatever the number of web recipients (see room.Event.Render).
func encodeEvent(ev *room.Event) []byte {
	var v any
	switch ev.Kind {
	case room.KindMessage:
		v = messageFrame{"message", ev.ID, ev.Room, ev.From, ev.Text, ev.Time.UTC().Format(TimeFormat), ev.Action}
	case room.KindJoin:
		v = presenceFrame{Type: "join", Room: ev.Room, Nick: ev.From, Via: ev.Via, Registered: ev.Registered, Count: ev.Count}
	case room.KindPart:
		v = presenceFrame{Type: "part", Room: ev.Room, Nick: ev.From, Reason: ev.Text, Count: ev.Count}
	case room.KindNick:
		v = nickFrame{"nick", ev.Room, ev.From, ev.To, ev.Registered}
	case room.KindMembers:
		members := ev.Members
		if members == nil {
			members = []room.Member{}
		}
		v = membersFrame{"members", ev.Room, members}
	case room.KindWelcome:
		v = welcomeFrame{"welcome", ev.From, ev.Rooms}
	case room.KindNotice:
		v = noticeFrame{"notice", ev.Text}
	case room.KindPrivate:
		v = privateFrame{"private", ev.ID, ev.From, ev.To, ev.Text, ev.Time.UTC().Format(TimeFormat)}
	case room.KindTopic:
		v = topicFrame{"topic", ev.Room, ev.Text, ev.From, ev.Time.UTC().Format(TimeFormat)}
	case room.KindRooms:
		rooms := ev.RoomList
		if rooms == nil {
			rooms = []room.RoomInfo{}
		}
		v = roomsFrame{"rooms", rooms}
	case room.KindHistory:
		return encodeHistory(ev)
	case room.KindError:
		v = errorFrame{"error", ev.Code, ev.Text}
	case room.KindMissed:
		v = missedFrame{Type: "missed", Room: ev.Room, Private: ev.Room == "", Count: ev.Count}
	default:
		v = noticeFrame{"notice", ev.Text}
	}
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for these types
		return []byte(`{"type":"error","code":"internal","text":"encoding failed"}`)
	}
	return b
}

// encodeHistory splices the messages' own cached frames into one history
// frame: the message objects are exactly the live ones.
func encodeHistory(ev *room.Event) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"history","room":`)
	name, _ := json.Marshal(ev.Room)
	b.Write(name)
	if ev.Before != 0 {
		fmt.Fprintf(&b, `,"before":%d`, ev.Before)
	}
	b.WriteString(`,"messages":[`)
	for i, m := range ev.History {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m.Render(room.FormatJSON, encodeEvent))
	}
	b.WriteString("]}")
	return b.Bytes()
}

func errorJSON(code, text string) []byte {
	b, _ := json.Marshal(errorFrame{"error", code, text})
	return b
}

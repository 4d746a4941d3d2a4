package wire

import (
	"encoding/json"

	"github.com/gorilla/websocket"

	"github.com/tertulia/tertulia/internal/room"
)

// TimeFormat is RFC 3339 with milliseconds, in UTC: the "ts" of frames and
// the time of line-mode history lines.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// ClientFrame is any frame a browser or bot sends. Fields unused by a type
// are ignored.
type ClientFrame struct {
	Type   string `json:"type"`
	Nick   string `json:"nick,omitempty"`
	Room   string `json:"room,omitempty"`
	Text   string `json:"text,omitempty"`
	Before uint64 `json:"before,omitempty"`
	// After asks history for newer messages; it may be 0, hence a pointer.
	After *uint64 `json:"after,omitempty"`
	Limit int     `json:"limit,omitempty"`
	// Cursor asks names for the members filed after it (a members frame's
	// next); Limit is then the page size.
	Cursor string `json:"cursor,omitempty"`
	// CID is a say's client id (see room.Hub.InputWithCID).
	CID string `json:"cid,omitempty"`
	// ID is a ping's id (a JSON string or number), echoed by its pong;
	// a read's message id (see ReadID).
	ID json.RawMessage `json:"id,omitempty"`
	// Name and Value: a set frame's setting and its new value (as /set
	// NAME VALUE).
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
	// Token signs a hello in with a bot token (/token new): as its key,
	// under its nick.
	Token string `json:"token,omitempty"`
	// Bot (hello): the client is a program; see room.Identity.Bot.
	Bot bool `json:"bot,omitempty"`
}

// MaxPingIDLen bounds a ping's id, in bytes of JSON as sent.
const MaxPingIDLen = 64

// ValidPingID reports whether id (as sent, possibly empty) may be echoed:
// a string or a number of at most MaxPingIDLen bytes.
func ValidPingID(id json.RawMessage) bool {
	if len(id) == 0 {
		return true
	}
	if len(id) > MaxPingIDLen {
		return false
	}
	c := id[0]
	return c == '"' || c == '-' || c >= '0' && c <= '9'
}

// FrameError is a client frame the server cannot use; it is answered with
// an error frame and the connection stays open.
type FrameError struct{ Code, Text string }

func (e *FrameError) Error() string { return e.Text }

// DecodeClientFrame turns one websocket message of type messageType into a
// client frame. Anything but a JSON text frame yields a *FrameError.
func DecodeClientFrame(messageType int, data []byte) (ClientFrame, error) {
	var f ClientFrame
	if messageType != websocket.TextMessage {
		return f, &FrameError{"bad_frame", "frames must be JSON text"}
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, &FrameError{"bad_frame", "frame is not valid JSON"}
	}
	return f, nil
}

// The server's frames, one type per frame "type".

// WelcomeFrame: the session is signed in.
type WelcomeFrame struct {
	Type  string   `json:"type"`
	Nick  string   `json:"nick"`
	Rooms []string `json:"rooms"`
	// The server's limits on a say, so that a client can warn before it
	// sends: characters (--max-message) and lines (--max-lines, 0: no
	// line cap).
	MaxMessage int `json:"max_message,omitempty"`
	MaxLines   int `json:"max_lines,omitempty"`
}

// MessageFrame: a room message or action; also each element of a history.
type MessageFrame struct {
	Type   string `json:"type"`
	ID     uint64 `json:"id"`
	Room   string `json:"room"`
	From   string `json:"from"`
	Text   string `json:"text"`
	TS     string `json:"ts"`
	Action bool   `json:"action"`
	// CID: only on the sender's own copy of a say that had one.
	CID string `json:"cid,omitempty"`
}

// PresenceFrame: a join or a part.
type PresenceFrame struct {
	Type       string   `json:"type"` // join or part
	Room       string   `json:"room"`
	Nick       string   `json:"nick"`
	Via        room.Via `json:"via,omitempty"`
	Registered bool     `json:"registered"`
	Bot        bool     `json:"bot,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Count      int      `json:"count"`
}

// NickFrame: a member of Room was renamed.
type NickFrame struct {
	Type       string `json:"type"`
	Room       string `json:"room"`
	Old        string `json:"old"`
	New        string `json:"new"`
	Registered bool   `json:"registered"`
}

// MembersFrame: the full member list of a room.
type MembersFrame struct {
	Type    string        `json:"type"`
	Room    string        `json:"room"`
	Members []room.Member `json:"members"`
}

// MembersPageFrame: one page of a big room's members (sorted as the full
// list), the room's member count, and the cursor of the next page ("" on
// the last). Cursor is the page asked for, absent for the first page.
type MembersPageFrame struct {
	Type    string        `json:"type"`
	Room    string        `json:"room"`
	Cursor  string        `json:"cursor,omitempty"`
	Members []room.Member `json:"members"`
	Total   int           `json:"total"`
	Next    string        `json:"next,omitempty"`
}

// PresenceChanges are the lists of a presence summary, shared by the
// frame the server writes and the Frame a client reads.
type PresenceChanges struct {
	Joined       []string          `json:"joined"`
	JoinedMore   int               `json:"joined_more"`
	Left         []string          `json:"left"`
	LeftMore     int               `json:"left_more"`
	Nicks        []room.NickChange `json:"nicks"`
	NicksMore    int               `json:"nicks_more"`
	GoneAway     []string          `json:"gone_away"`
	GoneAwayMore int               `json:"gone_away_more"`
	Back         []string          `json:"back"`
	BackMore     int               `json:"back_more"`
}

// PresenceSummaryFrame: what changed in a big room since its last summary
// (at most one a second per room). Each list holds at most 20 entries;
// the matching _more field counts the rest. Count is the member count.
type PresenceSummaryFrame struct {
	Type string `json:"type"`
	Room string `json:"room"`
	PresenceChanges
	Count int `json:"count"`
}

// PrivateFrame: a private message, to its sender and its recipient.
type PrivateFrame struct {
	Type string `json:"type"`
	ID   uint64 `json:"id"`
	From string `json:"from"`
	To   string `json:"to"`
	Text string `json:"text"`
	TS   string `json:"ts"`
	// Missed: kept while the recipient was offline and delivered at their
	// connection (TS is when it was sent).
	Missed bool `json:"missed,omitempty"`
	// Waiting: the sender's copy of a message kept for its offline
	// recipient, to be delivered when they connect.
	Waiting bool `json:"waiting,omitempty"`
	// CID: only on the sending connection's copy of a say that had one.
	CID string `json:"cid,omitempty"`
}

// SettingsFrame: the user's settings, at sign-in and whenever one changes
// (on any device of the key). Settings holds every setting /set knows, by
// name, with its value (defaults made explicit); Ignore the nicks ignored.
type SettingsFrame struct {
	Type     string            `json:"type"`
	Settings map[string]string `json:"settings"`
	Ignore   []string          `json:"ignore"`
}

// TopicFrame: a room's topic, with By when someone just set it.
type TopicFrame struct {
	Type  string `json:"type"`
	Room  string `json:"room"`
	Topic string `json:"topic"`
	By    string `json:"by,omitempty"`
	TS    string `json:"ts"`
}

// RoomsFrame: every room on the server.
type RoomsFrame struct {
	Type  string          `json:"type"`
	Rooms []room.RoomInfo `json:"rooms"`
}

// NoticeFrame: information for the session (or a room's members).
type NoticeFrame struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// MissedFrame tells a client that fell behind how many messages of room
// (or, with private, private messages) it was not sent.
type MissedFrame struct {
	Type    string `json:"type"`
	Room    string `json:"room,omitempty"`
	Private bool   `json:"private,omitempty"`
	Count   int    `json:"count"`
}

// AwayFrame: a member of Room went away (Away is the reason) or came back
// (Away left out).
type AwayFrame struct {
	Type string `json:"type"`
	Room string `json:"room"`
	Nick string `json:"nick"`
	Away string `json:"away,omitempty"`
}

// ReadFrame: the read marker of the session's key moved (or, after a
// join's history, is) at message ID: of Room, or of the private
// conversation with Nick.
type ReadFrame struct {
	Type string `json:"type"`
	Room string `json:"room,omitempty"`
	Nick string `json:"nick,omitempty"`
	ID   uint64 `json:"id"`
}

// ErrorFrame: Code is for programs, Text for people.
type ErrorFrame struct {
	Type string `json:"type"`
	Code string `json:"code"`
	Text string `json:"text"`
	// CID: the cid of the say this error refuses, if it had one.
	CID string `json:"cid,omitempty"`
}

// PongFrame answers a client's ping, with its id as sent if it had one.
type PongFrame struct {
	Type string          `json:"type"`
	ID   json.RawMessage `json:"id,omitempty"`
}

// A history frame has no struct: encodeHistory splices the messages' own
// cached frames into it.

// ReadID is a read frame's message id: a JSON number (as a ping's id, the
// field may hold anything); ok is false for anything else.
func (f ClientFrame) ReadID() (id uint64, ok bool) {
	if len(f.ID) == 0 {
		return 0, false
	}
	err := json.Unmarshal(f.ID, &id)
	return id, err == nil
}

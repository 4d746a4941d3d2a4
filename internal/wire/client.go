package wire

import (
	"encoding/json"

	"github.com/tertulia/tertulia/internal/room"
)

// Frame is any server frame as a client decodes it: the fields of every
// frame type in one struct, so that a client can switch on Type.
type Frame struct {
	Type       string `json:"type"`
	ID         uint64 `json:"id"`
	Room       string `json:"room"`
	Nick       string `json:"nick"`
	From       string `json:"from"`
	To         string `json:"to"`
	Text       string `json:"text"`
	TS         string `json:"ts"`
	Action     bool   `json:"action"`
	Code       string `json:"code"`
	Via        string `json:"via"`
	Registered bool   `json:"registered"`
	Reason     string `json:"reason"`
	Count      int    `json:"count"`
	Old        string `json:"old"`
	New        string `json:"new"`
	Topic      string `json:"topic"`
	By         string `json:"by"`
	Private    bool   `json:"private"`
	Before     uint64 `json:"before"`
	After      uint64 `json:"after"`
	More       bool   `json:"more"`
	CID        string `json:"cid"`
	Away       string `json:"away"`
	// A private message's marks (see PrivateFrame).
	Missed  bool `json:"missed"`
	Waiting bool `json:"waiting"`
	// A settings frame's settings by name, and the nicks ignored.
	Settings map[string]string `json:"settings"`
	Ignore   []string          `json:"ignore"`
	Members  []room.Member     `json:"members"`
	// A page of a big room's members: the room's member count and the
	// cursors of this page and the next (see MembersPageFrame).
	Total  int    `json:"total"`
	Cursor string `json:"cursor"`
	Next   string `json:"next"`
	// A presence summary (see PresenceSummaryFrame); Count is the
	// member count.
	PresenceChanges
	Messages []Frame `json:"messages"`
	// Rooms is a welcome's room names or a rooms frame's room list: see
	// RoomNames and RoomList.
	Rooms json.RawMessage `json:"rooms"`
	// PongID is a pong's id as text (a ping's id may be a string).
	PongID string `json:"-"`
	// Raw is the frame as received.
	Raw json.RawMessage `json:"-"`
}

// DecodeFrame decodes one server frame, keeping its bytes in Raw.
func DecodeFrame(data []byte) (Frame, error) {
	var f Frame
	err := json.Unmarshal(data, &f)
	if f.Type == "pong" {
		// A pong's id is the ping's as sent: a string, or a number (then
		// also in ID).
		var pong struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(data, &pong) == nil && len(pong.ID) > 0 {
			f.PongID = string(pong.ID)
			var s string
			if json.Unmarshal(pong.ID, &s) == nil {
				f.PongID, f.ID, err = s, 0, nil
			}
		}
	}
	f.Raw = data
	return f, err
}

// RoomNames is a welcome frame's rooms, the current one first.
func (f Frame) RoomNames() []string {
	var names []string
	_ = json.Unmarshal(f.Rooms, &names)
	return names
}

// RoomList is a rooms frame's rooms.
func (f Frame) RoomList() []room.RoomInfo {
	var rooms []room.RoomInfo
	_ = json.Unmarshal(f.Rooms, &rooms)
	return rooms
}

package wire

import (
	"encoding/json"

	"github.com/tertulia/tertulia/internal/room"
)

// Frame is any server frame as a client decodes it: the fields of every
// frame type in one struct, so that a client can switch on Type.
type Frame struct {
	Type       string        `json:"type"`
	ID         uint64        `json:"id"`
	Room       string        `json:"room"`
	Nick       string        `json:"nick"`
	From       string        `json:"from"`
	To         string        `json:"to"`
	Text       string        `json:"text"`
	TS         string        `json:"ts"`
	Action     bool          `json:"action"`
	Code       string        `json:"code"`
	Via        string        `json:"via"`
	Registered bool          `json:"registered"`
	Reason     string        `json:"reason"`
	Count      int           `json:"count"`
	Old        string        `json:"old"`
	New        string        `json:"new"`
	Topic      string        `json:"topic"`
	By         string        `json:"by"`
	Private    bool          `json:"private"`
	Before     uint64        `json:"before"`
	Members    []room.Member `json:"members"`
	Messages   []Frame       `json:"messages"`
	// Rooms is a welcome's room names or a rooms frame's room list: see
	// RoomNames and RoomList.
	Rooms json.RawMessage `json:"rooms"`
	// Raw is the frame as received.
	Raw json.RawMessage `json:"-"`
}

// DecodeFrame decodes one server frame, keeping its bytes in Raw.
func DecodeFrame(data []byte) (Frame, error) {
	var f Frame
	err := json.Unmarshal(data, &f)
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

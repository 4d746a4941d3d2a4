package room

import (
	"fmt"
	"sync"
	"time"
)

// Via names the front-end a session came through.
type Via string

// Front-ends known to the core. The core never looks inside them; the value
// is only shown to users (e.g. in /who).
const (
	ViaSSH Via = "ssh"
	ViaWeb Via = "web"
)

// Kind is the type of an Event.
type Kind uint8

// Event kinds. Room events (message, join, part, nick) are delivered to every
// member of the room in one order; the others go to a single session.
const (
	KindMessage Kind = iota + 1
	KindJoin
	KindPart
	KindNick
	KindMembers
	KindWelcome
	KindNotice
	KindError
	KindPrivate
	KindTopic
	KindHistory
	KindRooms
	// KindMissed tells a session that fell behind how many messages of a
	// room (Room, Count) it was not sent; private messages when Room is "".
	KindMissed
	// KindAway: a member of Room (From) went away with the reason Text,
	// or came back (Text "").
	KindAway
	// KindPresence sums up, at most once a second, the joins, parts, nick
	// and away changes of a room above the hub's presence summary
	// threshold (Presence; Count is the member count when it was sent).
	KindPresence
	// KindSettings tells a session that asked for them (Identity.Settings)
	// its user's settings (Prefs), at connection and on every change.
	KindSettings
	// KindRead: the key's read marker of a room (Room) or of a private
	// conversation (To, the other's nick) moved to message ID, or, after a
	// join's history, is there.
	KindRead
	// kindEnd follows the last kind, so that Kinds lists a new kind without
	// anyone having to remember it.
	kindEnd
)

// Kinds returns every event kind, in order. Renderers' tests walk it so
// that a new kind without a rendering in some format fails them.
func Kinds() []Kind {
	kinds := make([]Kind, 0, kindEnd-KindMessage)
	for k := KindMessage; k < kindEnd; k++ {
		kinds = append(kinds, k)
	}
	return kinds
}

// String names the kind as its websocket frame type does (docs/protocol.md).
func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindJoin:
		return "join"
	case KindPart:
		return "part"
	case KindNick:
		return "nick"
	case KindMembers:
		return "members"
	case KindWelcome:
		return "welcome"
	case KindNotice:
		return "notice"
	case KindError:
		return "error"
	case KindPrivate:
		return "private"
	case KindTopic:
		return "topic"
	case KindHistory:
		return "history"
	case KindRooms:
		return "rooms"
	case KindMissed:
		return "missed"
	case KindAway:
		return "away"
	case KindPresence:
		return "presence"
	case KindSettings:
		return "settings"
	case KindRead:
		return "read"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// presence: the event tells who is in a room, or how they are listed,
// which a later member list can stand in for.
func (k Kind) presence() bool {
	return k == KindJoin || k == KindPart || k == KindNick || k == KindAway || k == KindPresence
}

// Format selects a rendering cache slot. Each front-end renders an event at
// most once per format, whatever the number of recipients.
type Format uint8

// Formats used by the front-ends.
const (
	FormatJSON Format = iota
	FormatLine
	FormatTUI
	// FormatWebFrame is the whole websocket frame of FormatJSON, header
	// included: server frames are not masked, so every recipient is sent
	// the same bytes.
	FormatWebFrame
	numFormats
)

// Member describes one member of a room, as listed by /who.
type Member struct {
	Nick string `json:"nick"`
	Via  Via    `json:"via"`
	Away string `json:"away,omitempty"`
	// Registered: the nick belongs to the member's key (not a guest).
	Registered bool `json:"registered"`
	// Bot: the member is a program (a hello's "bot": true).
	Bot bool `json:"bot,omitempty"`
}

// NickChange is one member's change of nick, in a PresenceSummary.
type NickChange struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// PresenceSummary is what changed in a big room since its last summary:
// each list holds at most SummaryListCap entries, the matching More counts
// the rest, oldest first.
type PresenceSummary struct {
	Joined       []string
	JoinedMore   int
	Left         []string
	LeftMore     int
	Nicks        []NickChange
	NicksMore    int
	GoneAway     []string
	GoneAwayMore int
	Back         []string
	BackMore     int
}

// RoomInfo describes a room, as listed by /rooms.
type RoomInfo struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Topic string `json:"topic"`
}

// Event is immutable once published: the same value is shared by every
// recipient, so adapters must not modify it.
type Event struct {
	Kind   Kind
	ID     uint64 // message id, increasing; 0 for non-message events
	Room   string // room name without '#'
	From   string // sender; the joiner/parter; the old nick for KindNick; the member of KindAway
	To     string // the new nick for KindNick; the recipient of KindPrivate
	Text   string // message, notice, error or topic text; part reason; away reason ("" when back)
	Action bool   // a /me message
	Via    Via    // the joiner's front-end (KindJoin)
	// Registered: the joiner's or renamed member's nick belongs to its key
	// (KindJoin, KindNick).
	Registered bool
	Bot        bool   // the joiner is a program (KindJoin)
	Code       string // machine-readable error code (KindError)
	Count      int    // room member count after this event (join, part, members, presence)
	Members    []Member
	// Paged: Members is one page of the room's Count members (KindMembers
	// of a big room, or an answer to a request for a page). Cursor is the
	// page asked for (members filed after it; "" for the first page);
	// Next, if not "", asks for the page after this one.
	Paged        bool
	Cursor, Next string
	// Presence is what a KindPresence event sums up.
	Presence *PresenceSummary
	Rooms    []string // rooms of a welcomed session (KindWelcome)
	// The limits on what the welcomed session may say (KindWelcome).
	MaxMessage, MaxLines int
	// History holds message events, oldest first (KindHistory). Before is
	// set when they answer a request for older messages; Forward when they
	// answer one for messages newer than After (which may be 0). More, in
	// either answer: the store holds further messages that way; in the
	// history sent on joining (neither set): older messages are stored.
	History  []*Event
	Before   uint64
	After    uint64
	Forward  bool
	More     bool
	RoomList []RoomInfo // KindRooms
	Time     time.Time
	// CID is the client's id of the say this event answers: set only on
	// the sender's own copy of its message and on an error refusing that
	// say, never on what others receive.
	CID string
	// Missed: a private message kept while its recipient was offline,
	// delivered at their connection (Time is when it was sent).
	Missed bool
	// Waiting: the sender's copy of a private message kept for its
	// offline recipient, not delivered yet.
	Waiting bool
	// Prefs are the user's settings (KindSettings).
	Prefs *Preferences
	// fromKey is the sender's key fingerprint (messages and private
	// messages of a session with a key), which /ignore matches.
	fromKey string

	cache [numFormats]renderSlot
}

type renderSlot struct {
	once sync.Once
	b    []byte
	s    string
}

// Render returns the event rendered by fn for format f, calling fn only the
// first time any recipient asks for that format.
func (e *Event) Render(f Format, fn func(*Event) []byte) []byte {
	slot := &e.cache[f]
	slot.once.Do(func() { slot.b = fn(e) })
	return slot.b
}

// RenderText is Render for a front-end that keeps the rendering as a string
// (the terminal's scrollback): every recipient shares the one string. A
// format is rendered either with Render or with RenderText, never both.
func (e *Event) RenderText(f Format, fn func(*Event) string) string {
	slot := &e.cache[f]
	slot.once.Do(func() { slot.s = fn(e) })
	return slot.s
}

// UserError is an error meant for the user who caused it.
type UserError struct {
	Code string
	Text string
	// cause is the sentinel error this one reports (ErrBanned...), if any.
	cause error
}

func (e *UserError) Error() string { return e.Text }

// Unwrap lets errors.Is find the sentinel behind one of Connect's refusals.
func (e *UserError) Unwrap() error { return e.cause }

// refusal reports sentinel, one of Connect's errors, as a *UserError with
// the code front-ends send; errors.Is still finds sentinel.
func refusal(code string, sentinel error) *UserError {
	return &UserError{Code: code, Text: sentinel.Error(), cause: sentinel}
}

func userErr(code, text string) *UserError { return &UserError{Code: code, Text: text} }

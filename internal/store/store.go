// Package store keeps what must outlive the process: rooms, their topics and
// messages, identities and moderation. Store is small on purpose so that a
// PostgreSQL implementation can sit beside the embedded SQLite one and
// Memory (the in-process one a hub uses when given none); storetest is the
// conformance suite each of them passes.
package store

import (
	"context"
	"errors"
	"time"
)

// Kinds of stored entries.
const (
	KindMessage = "message"
	KindAction  = "action"
	KindTopic   = "topic"
)

// Message is one stored room entry: a message, an action or a topic change.
type Message struct {
	ID int64 // assigned by the store, increasing
	// Prev is the ID of the room's entry before this one (0: none), set
	// by stores shared between nodes (Postgres), which read it in the
	// same transaction, under the room's lock: a chain each node uses to
	// see an entry the bus lost.
	Prev int64
	Room string
	Kind string
	From string
	Text string
	Time time.Time
}

// Private is one stored private message (only with --store-private).
type Private struct {
	ID   int64
	From string
	To   string
	Text string
	Time time.Time
}

// Room is a stored room.
type Room struct {
	Name      string
	Topic     string
	TopicBy   string
	TopicAt   time.Time
	CreatedAt time.Time
	// TopicLocked is mode +t.
	TopicLocked bool
	// HasEntries: the room has stored entries (messages, actions, topic
	// changes). Set by Rooms.
	HasEntries bool
}

// ErrNotFound is returned for a missing room.
var ErrNotFound = errors.New("not found")

// Store is the persistence the room hub needs.
type Store interface {
	// AppendMessage stores m durably and sets m.ID.
	AppendMessage(ctx context.Context, m *Message) error
	// History returns up to limit room messages and actions (not topic
	// changes) with ID < before (0: the newest), oldest first.
	History(ctx context.Context, room string, before int64, limit int) ([]Message, error)
	// HistoryAfter returns up to limit room messages and actions with
	// ID > after, oldest first: what followed a message a client holds.
	HistoryAfter(ctx context.Context, room string, after int64, limit int) ([]Message, error)
	// EnsureRoom creates the room if it does not exist.
	EnsureRoom(ctx context.Context, r Room) error
	// SetTopic changes a room's topic and records the change as an entry.
	SetTopic(ctx context.Context, m *Message) error
	Rooms(ctx context.Context) ([]Room, error)
	// DeleteRoom deletes a room with all its entries (nothing if there is
	// no such room).
	DeleteRoom(ctx context.Context, name string) error
	AppendPrivate(ctx context.Context, p *Private) error
	Ping(ctx context.Context) error
	Close() error

	IdentityStore
	ModerationStore
	KeySettingsStore
	KeyStore
	MailStore
	ReadMarkerStore
	TokenStore
}

// BotToken is a named token a key made for a bot: it signs in as the key,
// under Nick. Only its hash is kept.
type BotToken struct {
	TokenHash   string
	Fingerprint string
	Name        string
	Nick        string
	CreatedAt   time.Time
}

// TokenStore keeps bot tokens.
type TokenStore interface {
	// AddBotToken stores t; ErrExists if the key has a token of that
	// name, ErrTooMany if it has limit tokens or more (limit <= 0: no
	// limit), counted in the same step as the token is added.
	AddBotToken(ctx context.Context, t BotToken, limit int) error
	// BotTokenByHash returns the token of that hash, or ErrNotFound.
	BotTokenByHash(ctx context.Context, tokenHash string) (BotToken, error)
	// BotTokens lists a key's tokens ("": every key's), by key, then by
	// name.
	BotTokens(ctx context.Context, fingerprint string) ([]BotToken, error)
	// DeleteBotToken deletes the key's token of that name and returns it;
	// ErrNotFound if there is none.
	DeleteBotToken(ctx context.Context, fingerprint, name string) (BotToken, error)
}

// EntryReader is implemented by the SQL stores: every kind of a room's
// entries after one, for a node catching up with what the bus lost.
type EntryReader interface {
	// EntriesAfter returns up to limit of the room's entries (messages,
	// actions and topic changes) with ID > after, oldest first.
	EntriesAfter(ctx context.Context, room string, after int64, limit int) ([]Message, error)
}

// RoomReader is implemented by the stores: one room, as Rooms lists it,
// for a node that takes up a room another node kept meanwhile.
type RoomReader interface {
	// StoredRoom returns the room (HasEntries set), or ErrNotFound.
	StoredRoom(ctx context.Context, name string) (Room, error)
}

// UnusedRoomDeleter is implemented by the stores: the deletion of a room
// that holds nothing, checked in the same step, for nodes sharing the
// store that cannot know whether another has just stored something in it.
type UnusedRoomDeleter interface {
	// DeleteUnusedRoom deletes the room if it has no entry (message,
	// action or topic change), no topic and no +t, and says whether it
	// did.
	DeleteUnusedRoom(ctx context.Context, name string) (bool, error)
}

// QueuedAppender is implemented by stores that commit messages in groups
// (SQLite). QueueMessage files m after every message queued before it and
// returns at once; the function it returns waits until m is stored (m.ID
// set) or reports why not. A caller that queues a room's messages in the
// room's order gets increasing IDs in that order without holding its lock
// during the commit. If ctx ends before the commit takes m, m is never
// stored.
type QueuedAppender interface {
	QueueMessage(m *Message) (wait func(ctx context.Context) error)
}

// IdentityStore keeps registered nicks and web sign-ins.
type IdentityStore interface {
	Registrations(ctx context.Context) ([]Registration, error)
	Register(ctx context.Context, r Registration) error
	Unregister(ctx context.Context, fold, fingerprint string) error
	AddLoginCode(ctx context.Context, codeHash, fingerprint string, expires time.Time) error
	UseLoginCode(ctx context.Context, codeHash string, now time.Time) (string, error)
	AddWebSession(ctx context.Context, w WebSession) error
	WebSessionByToken(ctx context.Context, tokenHash string, now time.Time) (WebSession, error)
	WebSessions(ctx context.Context, fingerprint string, now time.Time) ([]WebSession, error)
	DeleteWebSessions(ctx context.Context, fingerprint string) (int64, error)
	DeleteWebSession(ctx context.Context, tokenHash string) error
}

// ModerationStore keeps operators, bans, mutes and server settings.
type ModerationStore interface {
	Operators(ctx context.Context) ([]string, error)
	SetOperator(ctx context.Context, fingerprint, by string, on bool, now time.Time) error
	Bans(ctx context.Context, now time.Time) ([]Ban, error)
	AddBan(ctx context.Context, b *Ban) error
	// AddBans stores several bans in one transaction (all or none) and
	// sets their IDs, increasing in the order given.
	AddBans(ctx context.Context, bans []*Ban) error
	RemoveBans(ctx context.Context, value string) (int64, error)
	Mutes(ctx context.Context, now time.Time) ([]Mute, error)
	SetMute(ctx context.Context, m Mute) error
	RemoveMute(ctx context.Context, target string) error
	Setting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error
	SetTopicLocked(ctx context.Context, room string, locked bool) error
}

// KeyStore keeps what a key's sessions carry from one visit to the next:
// the rooms it was in and the lines it sent, to recall them.
type KeyStore interface {
	// KeyRooms returns the rooms the key was last in, in the order given
	// to SetKeyRooms (none if never set).
	KeyRooms(ctx context.Context, fingerprint string) ([]string, error)
	// SetKeyRooms replaces the key's rooms.
	SetKeyRooms(ctx context.Context, fingerprint string, rooms []string) error
	// InputHistory returns the key's newest sent lines, at most limit,
	// oldest first.
	InputHistory(ctx context.Context, fingerprint string, limit int) ([]string, error)
	// AppendInputHistory adds line to the key's sent lines and keeps only
	// the newest keep of them.
	AppendInputHistory(ctx context.Context, fingerprint, line string, keep int) error
	// ForgetKey deletes the key's rooms and sent lines, and what waits for
	// it (MailStore).
	ForgetKey(ctx context.Context, fingerprint string) error
}

// Package store keeps what must outlive the process: rooms, their topics and
// messages. Store is small on purpose so that a PostgreSQL implementation
// can sit beside the embedded SQLite one.
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
	ID   int64 // assigned by the store, increasing
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
	// EnsureRoom creates the room if it does not exist.
	EnsureRoom(ctx context.Context, r Room) error
	// SetTopic changes a room's topic and records the change as an entry.
	SetTopic(ctx context.Context, m *Message) error
	Rooms(ctx context.Context) ([]Room, error)
	AppendPrivate(ctx context.Context, p *Private) error
	Ping(ctx context.Context) error
	Close() error
}

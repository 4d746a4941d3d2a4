package room

import (
	"sort"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxRoomNameLen is the longest room name, in characters.
const MaxRoomNameLen = 32

// Room is a named set of sessions. Every event of a room is published under
// its lock, so all members receive the room's events in the same order.
type Room struct {
	name string

	// pubMu orders a room's stored entries: the store write and the
	// publication happen as one step, so store order is delivery order. It
	// is held during store I/O, mu never is.
	pubMu sync.Mutex

	mu      sync.Mutex
	members map[*Session]struct{}
	topic   string
	// topicLocked is mode +t: only operators set the topic.
	topicLocked bool
	recent      []*Event // the last messages, oldest first, for joiners
}

func newRoom(name string) *Room {
	return &Room{name: name, members: make(map[*Session]struct{})}
}

// Name is the room's name without '#'.
func (r *Room) Name() string { return r.name }

// publishLocked stamps ev and queues it for every member. r.mu must be held.
func (r *Room) publishLocked(h *Hub, ev *Event) {
	if ev.Time.IsZero() {
		ev.Time = h.now()
	}
	ev.Room = r.name
	for m := range r.members {
		m.deliver(ev)
	}
	h.obs.Delivered(len(r.members))
}

func (r *Room) publish(h *Hub, ev *Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publishLocked(h, ev)
}

// rememberLocked keeps ev among the recent messages shown to joiners.
func (r *Room) rememberLocked(ev *Event, keep int) {
	if keep <= 0 {
		return
	}
	if len(r.recent) >= keep {
		// Shift in place; the slice never grows past keep.
		copy(r.recent, r.recent[len(r.recent)-keep+1:])
		r.recent = r.recent[:keep-1]
	}
	r.recent = append(r.recent, ev)
}

// membersLocked lists the members sorted by nick. r.mu must be held.
func (r *Room) membersLocked() []Member {
	list := make([]Member, 0, len(r.members))
	for m := range r.members {
		list = append(list, Member{Nick: m.Nick(), Via: m.via, Away: m.Away(), Registered: m.isRegistered()})
	}
	sort.Slice(list, func(i, j int) bool { return foldNick(list[i].Nick) < foldNick(list[j].Nick) })
	return list
}

func (r *Room) membersEvent(now time.Time) *Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.membersLocked()
	return &Event{Kind: KindMembers, Room: r.name, Members: list, Count: len(list), Time: now}
}

func (r *Room) info() RoomInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RoomInfo{Name: r.name, Count: len(r.members), Topic: r.topic}
}

func (r *Room) hasMember(s *Session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.members[s]
	return ok
}

// ValidateRoomName reports why name (without '#') cannot name a room.
func ValidateRoomName(name string) *UserError {
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxRoomNameLen {
		return userErr("bad_room", "a room name is 1 to 32 characters")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return userErr("bad_room", "a room name may only use letters, digits, '-' and '_'")
		}
	}
	return nil
}

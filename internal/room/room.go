package room

import (
	"sort"
	"sync"
)

// Room is a named set of sessions. Every event of a room is published under
// its lock, so all members receive the room's events in the same order.
type Room struct {
	name string

	mu      sync.Mutex
	members map[*Session]struct{}
}

func newRoom(name string) *Room {
	return &Room{name: name, members: make(map[*Session]struct{})}
}

// Name is the room's name without '#'.
func (r *Room) Name() string { return r.name }

// publishLocked stamps ev and queues it for every member. r.mu must be held.
func (r *Room) publishLocked(h *Hub, ev *Event) {
	if ev.Kind == KindMessage {
		ev.ID = h.nextID.Add(1)
	}
	ev.Time = h.now()
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

// membersLocked lists the members sorted by nick. r.mu must be held.
func (r *Room) membersLocked() []Member {
	list := make([]Member, 0, len(r.members))
	for m := range r.members {
		list = append(list, Member{Nick: m.Nick(), Via: m.via})
	}
	sort.Slice(list, func(i, j int) bool { return foldNick(list[i].Nick) < foldNick(list[j].Nick) })
	return list
}

func (r *Room) membersEvent() *Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.membersLocked()
	return &Event{Kind: KindMembers, Room: r.name, Members: list, Count: len(list)}
}

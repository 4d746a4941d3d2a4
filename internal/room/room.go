package room

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// MaxRoomNameLen is the longest room name, in characters.
const MaxRoomNameLen = 32

// Room is a named set of people, each with its sessions there (a person's
// devices, see person.go). Every event of a room is published under its
// lock, so all members receive the room's events in the same order.
type Room struct {
	name string

	// pubMu orders a room's stored entries, so store order is delivery
	// order: messages are queued to a group-committing store under it (and
	// published in that order, see tail); other entries are stored and
	// published under it. It may be held during store I/O, mu never is.
	pubMu sync.Mutex
	// tail is closed once the last message queued to the store under pubMu
	// is published (or failed); nil if none was queued. Guarded by pubMu.
	tail chan struct{}

	// feedMu makes starting and stopping the room's feed on the bus (see
	// bus.go) one step; taken holding no lock but a person's memberMu or
	// pubMu.
	feedMu sync.Mutex

	mu sync.Mutex
	// feed follows the room on the hub's bus while it has members here
	// (nil without a bus); echoes are the entries this node stored and
	// offered to it, not yet delivered, by ID; lastEntry is the ID of the
	// room's last entry delivered here (any kind). Written under feedMu
	// and mu.
	feed      Feed
	echoes    map[int64]pendingEcho
	lastEntry int64
	// members are the sessions in the room: where its events are
	// delivered. people maps each person in it to the key it is filed
	// under in order (its folded nick when it was filed: the room's own
	// copy, so a nick change elsewhere never leaves order unsorted).
	members map[*Session]struct{}
	people  map[*person]string
	// order is the people sorted by (key, person id), each with its
	// sessions in the room, kept sorted on join, part and nick change so
	// that listing them is a copy rather than a sort with confusables
	// folding in the comparator. The room counts and lists people.
	order []roomMember
	// listed[i] is what the member list shows of order[i]: the room's copy,
	// refreshed (refreshLocked) whenever a member's nick, away message or
	// registration changes, so listing touches no session. Kept apart from
	// order so that publishing walks a compact slice.
	listed []Member
	// watchers are one-shot sessions following the room unlisted (see
	// Watch): delivered what the members are, counted and listed nowhere.
	watchers map[*Session]struct{}
	// remote are the other nodes' members of the room, by node (see
	// bus_presence.go); remoteSeeded: taken from a snapshot once.
	remote       map[string][]SharedMember
	remoteSeeded bool
	// renamed are the renames announced here of people still listed by
	// another node under their old key (old key → new key): one person's
	// devices on several nodes take a new nick one node after the other,
	// and the room hears it once.
	renamed map[string]string
	topic   string
	// topicLocked is mode +t: only operators set the topic.
	topicLocked bool
	recent      []*Event // the last messages, oldest first, for joiners
	// older: the store holds messages older than recent, so a joiner may
	// page back (the join's history says so with more).
	older bool
	// lastID is the id of the room's newest message (0: none), which
	// bounds a read marker.
	lastID atomic.Uint64
	// kept: something of the room is stored (a message, an action, a topic),
	// so it is never reclaimed; only /rmroom removes it.
	kept bool
	// pending is the presence summary being gathered (see presence.go),
	// nil if none; flushing: a goroutine waits to send it; lastSummary is
	// when the last one was sent.
	pending     *PresenceSummary
	flushing    bool
	lastSummary time.Time
	// emptySince is when the last member left (or the room was made).
	emptySince time.Time
	// removed is set, under mu, once the room is reclaimed or removed: it
	// is no longer the hub's, and nobody may join it or speak in it.
	removed atomic.Bool
}

func newRoom(name string, now time.Time) *Room {
	return &Room{name: name, members: make(map[*Session]struct{}), people: make(map[*person]string), emptySince: now}
}

// roomMember is one person in a room: s is its first session there, more
// the others (nil for most people, who have one).
type roomMember struct {
	key  string
	s    *Session
	more []*Session
}

func compareMember(e roomMember, t roomMember) int {
	if c := cmp.Compare(e.key, t.key); c != 0 {
		return c
	}
	return cmp.Compare(e.s.person.id, t.s.person.id)
}

// deliverLocked queues ev for each session of m. r.mu must be held.
func (m *roomMember) deliverLocked(ev *Event) {
	m.s.deliver(ev)
	for _, o := range m.more {
		o.deliver(ev)
	}
}

// sessionsLocked lists every session in the room, in member order. r.mu
// must be held.
func (r *Room) sessionsLocked() []*Session {
	out := make([]*Session, 0, len(r.members))
	for _, m := range r.order {
		out = append(out, m.s)
		out = append(out, m.more...)
	}
	return out
}

// memberInfo is what a room files and lists of s, read now.
func (h *Hub) memberInfo(s *Session) (key string, m Member) {
	s.mu.Lock()
	key, m = s.fold, Member{Nick: s.nick, Via: s.via, Away: s.away, Bot: s.bot}
	s.mu.Unlock()
	// Not under s.mu: the access lock is a leaf.
	m.Registered = h.access.OwnsFold(key, s.fingerprint)
	return key, m
}

// addLocked adds s, listing its person as m filed under key unless the
// person is in already; first tells whether it was not. s must not be a
// member. r.mu must be held.
func (r *Room) addLocked(s *Session, key string, m Member) (first bool) {
	r.members[s] = struct{}{}
	if i := r.personIndexLocked(s.person); i >= 0 {
		r.order[i].more = append(r.order[i].more, s)
		return false
	}
	r.people[s.person] = key
	e := roomMember{key: key, s: s}
	i, _ := slices.BinarySearchFunc(r.order, e, compareMember)
	r.order = slices.Insert(r.order, i, e)
	r.listed = slices.Insert(r.listed, i, m)
	return true
}

// personIndexLocked is where p is in order, or -1. r.mu must be held.
func (r *Room) personIndexLocked(p *person) int {
	key, in := r.people[p]
	if !in {
		return -1
	}
	i, _ := slices.BinarySearchFunc(r.order, key, func(e roomMember, key string) int {
		if c := cmp.Compare(e.key, key); c != 0 {
			return c
		}
		return cmp.Compare(e.s.person.id, p.id)
	})
	return i
}

// indexLocked is where the person of s is in order, or -1 if s is not a
// member. r.mu must be held.
func (r *Room) indexLocked(s *Session) int {
	if _, in := r.members[s]; !in {
		return -1
	}
	return r.personIndexLocked(s.person)
}

// removeLocked takes s out; member is false if it was not one, last tells
// whether its person left the room with it. r.mu must be held.
func (r *Room) removeLocked(s *Session) (member, last bool) {
	i := r.indexLocked(s)
	if i < 0 {
		return false, false
	}
	delete(r.members, s)
	e := &r.order[i]
	switch {
	case len(e.more) == 0:
		r.deleteAtLocked(i)
		return true, true
	case e.s == s:
		e.s = e.more[0]
		e.more = slices.Delete(e.more, 0, 1)
	default:
		e.more = slices.DeleteFunc(e.more, func(o *Session) bool { return o == s })
	}
	if len(e.more) == 0 {
		e.more = nil
	}
	return true, false
}

// removePersonLocked takes the person of s out with all its sessions, and
// returns them; none if it was not in. r.mu must be held.
func (r *Room) removePersonLocked(s *Session) []*Session {
	i := r.personIndexLocked(s.person)
	if i < 0 {
		return nil
	}
	e := r.order[i]
	gone := append([]*Session{e.s}, e.more...)
	for _, o := range gone {
		delete(r.members, o)
	}
	r.deleteAtLocked(i)
	return gone
}

// deleteAtLocked takes the person at order[i] out of order, listed and
// people. r.mu must be held.
func (r *Room) deleteAtLocked(i int) {
	delete(r.people, r.order[i].s.person)
	r.order = slices.Delete(r.order, i, i+1)
	r.listed = slices.Delete(r.listed, i, i+1)
	if len(r.order) == 0 {
		r.order, r.listed = nil, nil // let an emptied big room's arrays go
	}
}

// leaveLocked is removeLocked for a member leaving, noting when the room
// became empty. r.mu must be held.
func (r *Room) leaveLocked(h *Hub, s *Session) (member, last bool) {
	member, last = r.removeLocked(s)
	if len(r.order) == 0 && member {
		r.emptySince = h.now()
	}
	if member && !last {
		// The person's first session there may have changed: list its
		// front-end from now on (lists sent later show it).
		i := r.personIndexLocked(s.person)
		if _, m := h.memberInfo(r.order[i].s); m.Nick == r.listed[i].Nick {
			r.listed[i].Via = m.Via
		}
	}
	return member, last
}

// reclaimableLocked tells whether the room may be removed as unused at now:
// not the lobby, nothing stored, no +t, nobody watching (one-shots), and
// empty for long enough. r.mu must be held.
func (r *Room) reclaimableLocked(h *Hub, now time.Time) bool {
	return r.name != h.lobby && !r.kept && !r.topicLocked && r.topic == "" &&
		len(r.order) == 0 && len(r.watchers) == 0 && now.Sub(r.emptySince) >= h.reclaimAfter
}

// refreshLocked refiles and relists the person of s from its current
// state, after its nick, away message or registration changed, and returns
// how it was and is now listed; ok is false if s is not a member. Reading
// the state under r.mu makes the last refresh win with the newest state,
// whatever the order of concurrent changes. r.mu must be held.
func (r *Room) refreshLocked(h *Hub, s *Session) (was, now Member, ok bool) {
	i := r.indexLocked(s)
	if i < 0 {
		return Member{}, Member{}, false
	}
	was = r.listed[i]
	// The person's sessions share nick and away; the first one's via is
	// the one listed.
	key, now := h.memberInfo(r.order[i].s)
	if key == r.order[i].key {
		r.listed[i] = now
		return was, now, true
	}
	e := r.order[i]
	r.order = slices.Delete(r.order, i, i+1)
	r.listed = slices.Delete(r.listed, i, i+1)
	e.key = key
	r.people[s.person] = key
	j, _ := slices.BinarySearchFunc(r.order, e, compareMember)
	r.order = slices.Insert(r.order, j, e)
	r.listed = slices.Insert(r.listed, j, now)
	return was, now, true
}

// publishAwayLocked tells the room that a member went away or came back
// when its listed away message changed from was to now, so that member
// lists follow it live. Whichever refresh sees the change announces it,
// whatever change caused that refresh; s, the member, gets it even in a
// big room. r.mu must be held.
func (r *Room) publishAwayLocked(h *Hub, s *Session, was, now Member) {
	if was.Away != now.Away {
		r.presenceLocked(h, &Event{Kind: KindAway, From: now.Nick, Text: now.Away}, noteAway(now.Nick, now.Away), s)
	}
}

// refreshMember refreshes s in every room it is in, in the order it
// joined them.
func (h *Hub) refreshMember(s *Session) {
	for _, r := range s.joinedRooms() {
		r.mu.Lock()
		if was, now, ok := r.refreshLocked(h, s); ok {
			r.publishAwayLocked(h, s, was, now)
			if was != now {
				// The other nodes list it as it is now (a registration
				// shows no event, only in member lists).
				r.sharePresenceLocked(h)
			}
		}
		r.mu.Unlock()
	}
}

// Name is the room's name without '#'.
func (r *Room) Name() string { return r.name }

// publishLocked stamps ev and queues it for every member. r.mu must be held.
func (r *Room) publishLocked(h *Hub, ev *Event) {
	if ev.Time.IsZero() {
		ev.Time = h.now()
	}
	ev.Room = r.name
	for i := range r.order {
		r.order[i].deliverLocked(ev)
	}
	r.deliverWatchersLocked(ev)
	h.obs.Delivered(len(r.members))
}

func (r *Room) publish(h *Hub, ev *Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publishLocked(h, ev)
}

// publishMessage publishes a stored message and keeps it for joiners. With
// echo (the sender's copy, carrying its cid), the sender gets echo in ev's
// place, even if it left the room meanwhile: it answers its say.
func (r *Room) publishMessage(h *Hub, ev *Event, sender *Session, echo *Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publishMessageLocked(h, ev, sender, echo)
}

// publishMessageLocked is publishMessage. r.mu must be held.
func (r *Room) publishMessageLocked(h *Hub, ev *Event, sender *Session, echo *Event) {
	r.kept = true
	r.rememberLocked(ev, h.history)
	r.lastID.Store(max(r.lastID.Load(), ev.ID))
	if echo == nil {
		r.publishLocked(h, ev)
		return
	}
	r.deliverWatchersLocked(ev)
	// The sender's other sessions get ev: the same message, without the
	// cid their client did not send.
	_, echoed := r.members[sender]
	for i := range r.order {
		m := &r.order[i]
		if !echoed || m.s.person != sender.person {
			m.deliverLocked(ev)
			continue
		}
		for _, o := range append([]*Session{m.s}, m.more...) {
			if o == sender {
				o.deliver(echo)
			} else {
				o.deliver(ev)
			}
		}
	}
	if !echoed {
		sender.deliver(echo)
	}
	h.obs.Delivered(len(r.members))
}

// drainLocked waits until every message queued so far is published, so an
// entry stored next comes after them. r.pubMu must be held.
func (r *Room) drainLocked() {
	if r.tail != nil {
		<-r.tail
	}
}

// rememberLocked keeps ev among the recent messages shown to joiners.
func (r *Room) rememberLocked(ev *Event, keep int) {
	if keep <= 0 {
		r.older = true
		return
	}
	if len(r.recent) >= keep {
		r.older = true
		// Shift in place; the slice never grows past keep.
		copy(r.recent, r.recent[len(r.recent)-keep+1:])
		r.recent = r.recent[:keep-1]
	}
	r.recent = append(r.recent, ev)
}

func (r *Room) membersEvent(h *Hub) *Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.membersEventLocked(h, h.now())
}

// membersEventLocked lists the members sorted by folded nick: a copy, since
// listed changes after the event is published; in a big room only the
// first page. r.mu must be held.
func (r *Room) membersEventLocked(h *Hub, now time.Time) *Event {
	if r.bigLocked(h) {
		return r.membersPageLocked("", MembersPageSize, now)
	}
	// Never nil: an empty room lists [] to the front-ends, not null.
	list := r.mergedListLocked()
	return &Event{Kind: KindMembers, Room: r.name, Members: list, Count: len(list), Time: now}
}

func (r *Room) info() RoomInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RoomInfo{Name: r.name, Count: r.countLocked(), Topic: r.topic}
}

// isTopicLocked reports whether the room is +t: only operators set its
// topic.
func (r *Room) isTopicLocked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.topicLocked
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

package room

import (
	"errors"
	"sync"
)

// DefaultMaxSessionsPerKey is how many sessions one registered key may have
// at once.
const DefaultMaxSessionsPerKey = 10

// CodeTooManySessions is the code of Connect's refusal of a key's session
// beyond the cap.
const CodeTooManySessions = "too_many_sessions"

// ErrTooManySessions is returned by Connect when a registered key already
// has as many sessions as it may.
var ErrTooManySessions = errors.New("this key has too many sessions open")

// WithMaxSessionsPerKey caps how many sessions one registered key may have
// at once; n <= 0 means no cap.
func WithMaxSessionsPerKey(n int) Option {
	return func(h *Hub) { h.maxSessionsPerKey = max(n, 0) }
}

// person is one user, whichever devices they use: the sessions of a
// registered key share one (its nick, away message, rooms and mute), so
// that the others see the person once; a guest, or a key with no
// registered nick, is a person of one session. Rooms list and count
// people, and deliver to each of their sessions.
type person struct {
	id uint64
	// key is the registered key whose sessions share this person, "" for
	// a person of one session.
	key string
	// claim is how the person claims its nick across a cluster (see
	// claims.go); under Hub.mu.
	claim NickClaim
	// memberMu makes a change of the person's rooms (a join or part,
	// applied to every session, or a new session taking the person's
	// rooms) one step. Taken holding no lock; see doc.go.
	memberMu sync.Mutex
	// sessions, in connection order; guarded by Hub.mu.
	sessions []*Session
}

// sessionsOf lists the sessions of s's person, s first.
func (h *Hub) sessionsOf(s *Session) []*Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Session, 1, len(s.person.sessions)+1)
	out[0] = s
	for _, o := range s.person.sessions {
		if o != s {
			out = append(out, o)
		}
	}
	return out
}

// joinPerson puts every session of s's person in r, s first, and makes it
// the current room of s and of those that were not in it; false if r has
// been removed meanwhile. A session already in r keeps its current room:
// a browser rejoining its tabs after a reload switches no terminal.
func (h *Hub) joinPerson(s *Session, r *Room) bool {
	s.person.memberMu.Lock()
	defer s.person.memberMu.Unlock()
	for i, o := range h.sessionsOf(s) {
		if i > 0 && r.hasMember(o) {
			continue // only the person's sessions change its rooms, under memberMu
		}
		if !h.joinRoom(o, r) {
			return false
		}
	}
	return true
}

// takePersonRooms puts s, a new session of a person already connected, in
// the rooms its person is in (of its other sessions, the one that joined
// most), in their order.
func (h *Hub) takePersonRooms(s *Session) {
	var rooms []*Room
	for _, o := range h.sessionsOf(s)[1:] {
		if joined := o.joinedRooms(); len(joined) > len(rooms) {
			rooms = joined
		}
	}
	for _, r := range rooms {
		h.joinRoom(s, r)
	}
}

// setAway sets the away message of the person of s ("": present) on each
// of its sessions, relists it and tells each of them with notice.
func (h *Hub) setAway(s *Session, reason, notice string) {
	all := h.sessionsOf(s)
	for _, o := range all {
		o.setAway(reason)
	}
	h.refreshMember(s)
	for _, o := range all {
		h.notice(o, notice)
	}
}

// keyPersonFrom makes the person of s, whose key has just registered a
// nick, the one the key's next sessions join, unless the key has one
// already (its sessions from before it registered stay people of their
// own until they reconnect).
func (h *Hub) keyPersonFrom(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := s.person
	if s.fingerprint == "" || p.key != "" || len(p.sessions) == 0 || h.keyPeople[s.fingerprint] != nil {
		return
	}
	p.key = s.fingerprint
	h.keyPeople[p.key] = p
}

package room

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// One-shot sessions (Identity.OneShot) serve one command, such as an SSH
// exec ("ssh host say #dev hi"), then leave. They are people like any
// other (nick, key, rate limit, mutes, bans) but join no room: they are in
// no member list and cause no join, part or presence event, and they get
// no welcome, MOTD or history they did not ask for. They may name any
// existing room where a session would name one it is in (saying, history)
// and follow one unlisted with Watch.

// IsOneShot tells whether s was connected with Identity.OneShot.
func (s *Session) IsOneShot() bool { return s.oneShot }

// reachableRoom is the room named room that s may speak in or read: one it
// is in, or for a one-shot session any existing room.
func (h *Hub) reachableRoom(s *Session, room string) (*Room, *UserError) {
	name := roomName(room)
	if r := s.roomNamed(name); r != nil {
		return r, nil
	}
	if !s.oneShot {
		return nil, userErr("not_in_room", "you are not in #"+name)
	}
	h.mu.Lock()
	r := h.rooms[name]
	h.mu.Unlock()
	if r == nil || r.removed.Load() {
		return nil, userErr("no_such_room", "there is no room #"+name)
	}
	return r, nil
}

// Watch makes the one-shot session s receive a room's events from now on,
// as its members do, without being one, and returns the ID of the room's
// newest message then: stored messages up to it came before the first
// event delivered. It ends when s leaves.
func (h *Hub) Watch(s *Session, room string) (lastID uint64, err error) {
	if !s.oneShot {
		return 0, userErr("usage", "only a one-shot session watches a room")
	}
	r, uerr := h.reachableRoom(s, room)
	if uerr != nil {
		return 0, uerr
	}
	// In a cluster the room's events come through its feed, which a node
	// keeps only while the room has someone here; and only a followed
	// room's newest message is known here: followed first, so that
	// lastID is the room's newest, not that of when this node last
	// followed it (or 0).
	h.follow(r)
	lastID, err = r.addWatcher(s)
	if err != nil {
		h.unfollowIfEmpty(r)
		return 0, err
	}
	// Followed again if its last member left between the two.
	h.follow(r)
	return lastID, nil
}

func (r *Room) addWatcher(s *Session) (lastID uint64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed.Load() {
		return 0, userErr("no_such_room", "there is no room #"+r.name)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, userErr("closed", "the session has ended")
	}
	s.watching = append(s.watching, r)
	s.mu.Unlock()
	if r.watchers == nil {
		r.watchers = make(map[*Session]struct{})
	}
	r.watchers[s] = struct{}{}
	return r.lastID.Load(), nil
}

// deliverWatchersLocked queues ev for the room's watchers. r.mu must be
// held.
func (r *Room) deliverWatchersLocked(ev *Event) {
	for s := range r.watchers {
		s.deliver(ev)
	}
}

// unwatchAll stops s watching its rooms (Leave), and following those
// left with nobody here.
func (h *Hub) unwatchAll(s *Session) {
	s.mu.Lock()
	watched := s.watching
	s.watching = nil
	s.mu.Unlock()
	for _, r := range watched {
		r.mu.Lock()
		delete(r.watchers, s)
		r.mu.Unlock()
		h.unfollowIfEmpty(r)
	}
}

// maxOneShotIdentities bounds the table of one-shot input budgets.
const maxOneShotIdentities = 10000

// oneShotRates holds the input budget of each identity (key, else client
// address) using one-shot sessions, shared by all of them: a session per
// line must not buy a fresh budget per line.
type oneShotRates struct {
	mu         sync.Mutex
	byIdentity map[string]*rate.Limiter
}

// oneShotLimiter is the input budget s shares with the identity's other
// one-shot sessions. When the table is full of identities that all spent
// part of their budget, s gets none (its input is refused as rate limited).
func (h *Hub) oneShotLimiter(s *Session) *rate.Limiter {
	identity := "key " + s.fingerprint
	if s.fingerprint == "" {
		identity = "addr " + s.source.String()
		if !s.source.IsValid() {
			identity = "remote " + s.remote
		}
	}
	t, now := h.oneShotRates, h.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.byIdentity[identity]; l != nil {
		return l
	}
	if len(t.byIdentity) >= maxOneShotIdentities {
		for id, l := range t.byIdentity {
			if l.TokensAt(now) >= float64(h.rateBurst) {
				delete(t.byIdentity, id)
			}
		}
		if len(t.byIdentity) >= maxOneShotIdentities {
			return rate.NewLimiter(0, 0)
		}
	}
	l := rate.NewLimiter(rate.Limit(h.ratePerSec), h.rateBurst)
	t.byIdentity[identity] = l
	return l
}

// InputWait is how long s must wait for its input budget to allow one more
// line: 0 if it does now, negative if it never will. One-shot front-ends
// pace a stream of lines with it rather than have them refused.
func (s *Session) InputWait() time.Duration {
	tokens := s.limiter.TokensAt(s.hub.now())
	if tokens >= 1 {
		return 0
	}
	perSecond := float64(s.limiter.Limit())
	if perSecond <= 0 {
		return -1
	}
	return time.Duration((1 - tokens) / perSecond * float64(time.Second))
}

// othersAreOneShots tells whether every other session of s's person is a
// one-shot, which is in no room.
func (h *Hub) othersAreOneShots(s *Session) bool {
	for _, o := range h.sessionsOf(s)[1:] {
		if !o.oneShot {
			return false
		}
	}
	return true
}

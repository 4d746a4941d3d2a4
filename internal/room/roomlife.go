package room

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tertulia/tertulia/internal/store"
)

// Rooms come and go: creation is paced per session and per address, rooms
// that hold nothing are reclaimed once unused, and operators remove rooms
// with /rmroom. Lock order: a room's pubMu, then h.mu, then the room's mu.

// maxCreatorAddrs bounds the table of addresses' room creation budgets.
const maxCreatorAddrs = 10000

// creatorTable holds the room creation budget of each client address (an
// IPv6 address counts as its /64), shared by all its sessions.
type creatorTable struct {
	burst int
	every time.Duration

	mu     sync.Mutex
	byAddr map[string]*rate.Limiter
}

func newCreatorTable(burst int, every time.Duration) *creatorTable {
	return &creatorTable{burst: burst, every: every, byAddr: make(map[string]*rate.Limiter)}
}

// allow spends one room creation of addr's budget. When the table is full
// of addresses that all spent part of their budget, new addresses are
// refused until some budget is whole again (they are then forgotten).
func (t *creatorTable) allow(addr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.byAddr[addr]
	if l == nil {
		if len(t.byAddr) >= maxCreatorAddrs {
			for a, other := range t.byAddr {
				if other.TokensAt(now) >= float64(t.burst) {
					delete(t.byAddr, a)
				}
			}
			if len(t.byAddr) >= maxCreatorAddrs {
				return false
			}
		}
		l = rate.NewLimiter(rate.Every(t.every), t.burst)
		t.byAddr[addr] = l
	}
	return l.AllowN(now, 1)
}

// allowRoomCreation spends one room creation of s's budget and of its
// address's. Operators are not limited.
func (h *Hub) allowRoomCreation(s *Session) error {
	if h.roomBurst <= 0 || s.IsOperator() {
		return nil
	}
	now := h.now()
	s.mu.Lock()
	if s.roomLimiter == nil {
		s.roomLimiter = rate.NewLimiter(rate.Every(h.roomEvery), h.roomBurst)
	}
	ok := s.roomLimiter.AllowN(now, 1)
	s.mu.Unlock()
	if ok && s.source.IsValid() {
		// The source (an IPv6 address counts as its /64) is the unit
		// caps, bans and mutes count too.
		ok = h.roomCreators.allow(s.source.String(), now)
	}
	if !ok {
		return userErr("rate_limited", fmt.Sprintf("no new room now: at most %d new rooms at once, then one every %s, per connection and per address; existing rooms can still be joined", h.roomBurst, h.roomEvery))
	}
	return nil
}

// ReclaimRooms removes, from the hub and the store, the rooms that hold
// nothing (no stored message or topic, no +t) and have been empty for the
// reclaim delay; never the lobby. In cluster mode a room leaves the
// shared store only if no other node lists anyone in it (reclaimShared).
// It returns how many. The server calls it periodically, and it runs
// whenever the room cap is reached.
func (h *Hub) ReclaimRooms() int {
	if h.reclaimAfter <= 0 {
		return 0
	}
	now := h.now()
	var names []string
	h.mu.Lock()
	for name, r := range h.rooms {
		r.mu.Lock()
		if r.reclaimableLocked(h, now) {
			r.removed.Store(true)
			names = append(names, name)
		}
		r.mu.Unlock()
	}
	for _, name := range names {
		delete(h.rooms, name)
		h.busyRooms[name] = make(chan struct{})
	}
	if len(names) > 0 {
		h.obs.RoomsChanged(len(h.rooms))
	}
	h.mu.Unlock()
	for _, name := range names {
		if h.bus != nil {
			h.reclaimShared(name)
			h.releaseRoomName(name)
			continue
		}
		h.forgetStoredRoom(name)
	}
	if len(names) > 0 {
		h.log.Info("rooms reclaimed", "rooms", len(names))
	}
	return len(names)
}

// forgetStoredRoom deletes a room taken out of h.rooms (and marked busy)
// from the store, then lets its name be created again.
func (h *Hub) forgetStoredRoom(name string) error {
	err := h.persist("delete room", "#"+name+" was removed, but its stored history could not be deleted: it may come back after a restart", func(ctx context.Context) error {
		return h.store.DeleteRoom(ctx, name)
	}, "room", name)
	h.releaseRoomName(name)
	return err
}

// releaseRoomName lets a name taken out of h.rooms (and marked busy) be
// created again.
func (h *Hub) releaseRoomName(name string) {
	h.mu.Lock()
	close(h.busyRooms[name])
	delete(h.busyRooms, name)
	h.mu.Unlock()
}

// removeRoom is /rmroom: an operator removes a room and its stored history.
// Each member gets its own part, with the reason, and is no longer in it;
// in a cluster, on every node (a room this node does not serve is removed
// from the store and from the others).
func (h *Hub) removeRoom(by *Session, room, reason string) error {
	name := roomName(room)
	if name == "" {
		return userErr("usage", "usage: /rmroom #ROOM [REASON]")
	}
	if name == h.lobby {
		return userErr("is_lobby", "#"+name+" is the lobby: it cannot be removed")
	}
	text := "room removed by " + by.Nick()
	if reason = strings.TrimSpace(reason); reason != "" {
		text += ": " + reason
	}
	parted, found := h.removeRoomHere(name, text)
	if !found && !h.takeStoredRoomName(name) {
		return userErr("no_such_room", "there is no room #"+name)
	}
	err := h.forgetStoredRoom(name)
	h.forgetStored(name)
	h.moderationChanged(ModerationChange{RemoveRoom: name, By: by.Nick(), Reason: text})
	h.log.Info("room removed", "room", name, "by", by.Nick(), "members", parted, "reason", reason)
	if err != nil {
		return err
	}
	h.notice(by, fmt.Sprintf("#%s removed with its history (%d members parted)", name, parted))
	return nil
}

// removeRoomHere takes room name out of this node, parting its members
// here with text, and leaves its name marked busy (forgetStoredRoom or
// releaseRoomName frees it); false if this node has no such room.
func (h *Hub) removeRoomHere(name, text string) (parted int, found bool) {
	h.mu.Lock()
	r := h.rooms[name]
	h.mu.Unlock()
	if r == nil {
		return 0, false
	}
	// Under pubMu, once the messages queued so far are stored and
	// published: later ones see the room removed and are refused.
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	r.drainLocked()
	h.mu.Lock()
	if h.rooms[name] != r {
		h.mu.Unlock()
		return 0, false
	}
	now := h.now()
	r.mu.Lock()
	r.removed.Store(true)
	parted = len(r.order)
	members := r.sessionsLocked()
	for _, s := range members {
		r.removeLocked(s)
		s.deliver(&Event{Kind: KindPart, Room: name, From: s.Nick(), Text: text, Time: now})
	}
	// The other nodes list nobody here in it any more.
	r.sharePresenceLocked(h)
	r.mu.Unlock()
	delete(h.rooms, name)
	h.busyRooms[name] = make(chan struct{})
	h.obs.RoomsChanged(len(h.rooms))
	h.mu.Unlock()

	for _, s := range members {
		s.dropRoom(r)
	}
	h.unfollowIfEmpty(r)
	return parted, true
}

// takeStoredRoomName marks name busy, for removal, if this node does not
// serve it but the shared store of a cluster holds it; false otherwise.
func (h *Hub) takeStoredRoomName(name string) bool {
	if h.bus == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), moderationReload)
	defer cancel()
	rooms, err := h.store.Rooms(ctx)
	if err != nil || !slices.ContainsFunc(rooms, func(r store.Room) bool { return r.Name == name }) {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rooms[name] != nil || h.busyRooms[name] != nil {
		return false
	}
	h.busyRooms[name] = make(chan struct{})
	return true
}

// applyRemoveRoom removes a room another node removed (and deleted from
// the store): its members here part with text.
func (h *Hub) applyRemoveRoom(name, text string) {
	h.forgetStored(name)
	parted, found := h.removeRoomHere(name, text)
	if !found {
		return
	}
	h.releaseRoomName(name)
	h.log.Info("room removed", "room", name, "elsewhere", true, "members", parted)
}

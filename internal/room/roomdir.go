package room

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

// storedRoomsEvery is how long the shared store's list of rooms, once
// read, serves /rooms in a cluster before it is read again.
const storedRoomsEvery = 5 * time.Second

// storedRooms is, in a cluster, the shared store's rooms as last read,
// each with the other nodes' member count then: /rooms lists the rooms
// this node does not serve from it, without reading the store and every
// room's member lists per call. Its lock is a leaf.
type storedRooms struct {
	mu      sync.Mutex
	read    time.Time // zero: never read
	reading bool
	list    []RoomInfo // by name; replaced, never changed in place
}

// storedRoomList is the shared store's rooms, read again if the list is
// older than storedRoomsEvery (by one caller at a time; the others take
// the old list meanwhile) or if fresh is set. If the store cannot be
// read, the last list read.
func (h *Hub) storedRoomList(fresh bool) []RoomInfo {
	d := &h.stored
	d.mu.Lock()
	stale := d.read.IsZero() || h.now().Sub(d.read) >= storedRoomsEvery
	if !fresh && (!stale || d.reading) {
		list := d.list
		d.mu.Unlock()
		return list
	}
	d.reading = true
	d.mu.Unlock()
	list, err := h.readStoredRooms()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reading = false
	if err != nil {
		h.log.Warn("cluster: rooms not read from the store", "err", err)
	} else {
		d.list, d.read = list, h.now()
	}
	return d.list
}

// readStoredRooms reads the shared store's rooms, each counted with the
// members the other nodes list in it. Holding no lock.
func (h *Hub) readStoredRooms() ([]RoomInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), moderationReload)
	defer cancel()
	stored, err := h.store.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RoomInfo, 0, len(stored))
	for _, r := range stored {
		out = append(out, RoomInfo{Name: r.Name, Count: h.countElsewhere(r.Name), Topic: r.Topic})
	}
	return out, nil
}

// countElsewhere is how many people the other nodes list in the room.
func (h *Hub) countElsewhere(name string) int {
	if h.presence == nil {
		return 0
	}
	keys := map[string]bool{}
	for _, list := range h.presence.Snapshot(name) {
		for _, m := range list {
			keys[m.Key] = true
		}
	}
	return len(keys)
}

// storedElsewhere says whether, in a cluster, the room is in the shared
// store as last read: another node made it, and joining it here creates
// no room.
func (h *Hub) storedElsewhere(name string) bool {
	return h.bus != nil && slices.ContainsFunc(h.storedRoomList(false), func(r RoomInfo) bool { return r.Name == name })
}

// forgetStored takes a room deleted from the shared store out of the list.
func (h *Hub) forgetStored(name string) {
	d := &h.stored
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = slices.DeleteFunc(slices.Clone(d.list), func(r RoomInfo) bool { return r.Name == name })
}

// roomCountLocked is how many rooms count against --max-rooms: this
// node's, those being created or removed here and, in a cluster, the
// other stored ones (stored). h.mu must be held.
func (h *Hub) roomCountLocked(stored []RoomInfo) int {
	n := len(h.rooms) + len(h.busyRooms)
	for _, r := range stored {
		if h.rooms[r.Name] == nil && h.busyRooms[r.Name] == nil {
			n++
		}
	}
	return n
}

// reclaimShared deletes a room this node has just reclaimed from its
// memory (its name marked busy) from the shared store too, if no other
// node lists anyone in it and nothing is stored in it (the store checks
// that in the same step), and tells the other nodes, which drop their
// unused copies. A node that has someone in it after all stores it again
// (applyForgetRoom).
func (h *Hub) reclaimShared(name string) {
	deleter, ok := h.store.(store.UnusedRoomDeleter)
	if !ok || h.presence == nil || h.countElsewhere(name) > 0 {
		return
	}
	var deleted bool
	if err := h.persist("reclaim room", "", func(ctx context.Context) (err error) {
		deleted, err = deleter.DeleteUnusedRoom(ctx, name)
		return err
	}, "room", name); err != nil || !deleted {
		return
	}
	h.forgetStored(name)
	h.moderationChanged(ModerationChange{ForgetRoom: name})
}

// applyForgetRoom drops this node's copy of a room another node deleted
// from the store as unused, if nobody is in it or watching it here; if
// someone is (they came in meanwhile), the room is stored again for them.
func (h *Hub) applyForgetRoom(name string) {
	h.forgetStored(name)
	h.mu.Lock()
	// A room being made here (stored before the other node's delete, not
	// yet listed, its maker about to join) is waited for, then stored
	// again for its maker.
	made := false
	for h.rooms[name] == nil && h.busyRooms[name] != nil {
		busy := h.busyRooms[name]
		h.mu.Unlock()
		<-busy
		made = true
		h.mu.Lock()
	}
	r := h.rooms[name]
	if r == nil {
		h.mu.Unlock()
		return
	}
	r.mu.Lock()
	unused := !made && r.name != h.lobby && !r.kept && !r.topicLocked && r.topic == "" && len(r.order) == 0 && len(r.watchers) == 0
	if unused {
		r.removed.Store(true)
	}
	r.mu.Unlock()
	if unused {
		delete(h.rooms, name)
		h.obs.RoomsChanged(len(h.rooms))
	}
	h.mu.Unlock()
	if unused {
		h.unfollowIfEmpty(r)
		return
	}
	_ = h.persist("room", "", func(ctx context.Context) error {
		return h.store.EnsureRoom(ctx, store.Room{Name: name, CreatedAt: h.now()})
	}, "room", name)
}

package room

import (
	"context"
	"sync"
	"time"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/store"
)

// Read markers: for each key and conversation, the id of the last message
// its user has read, shared by every device (session) of the key. A marker
// only moves forward. Guests have none.
//
// A marker advanced by any session is at once sent, as a KindRead event,
// to the key's other sessions. Clients may send one at every scroll, so the
// store is written in batches: every key's advanced markers in one write,
// at most once every readFlushEvery, and on shutdown. A key whose sessions
// all left stays in memory until its markers are written, so a device
// connecting meanwhile still gets them.

// DefaultReadFlushEvery bounds how often the read markers are written.
const DefaultReadFlushEvery = 5 * time.Second

// maxReadTargets bounds the conversations one key keeps a marker for: a
// client naming ever new nicks cannot grow it without end.
const maxReadTargets = 1000

// WithReadFlush sets how often at most advanced read markers are written
// to the store (DefaultReadFlushEvery); 0 or less writes each at once.
func WithReadFlush(every time.Duration) Option { return func(h *Hub) { h.readFlushEvery = every } }

// readBook holds the read markers of the keys that have a session, and
// those advanced but not yet written. mu is a leaf lock: nothing is taken
// under it, and it is never held across store I/O.
type readBook struct {
	mu   sync.Mutex
	keys map[string]*keyReads
	// dirtyKeys have markers to write; scheduled: a flush waits for its
	// time (flushes counts it until it is done); writing: writes under
	// way, during which no entry is dropped.
	dirtyKeys map[string]bool
	scheduled bool
	writing   int
	flushes   sync.WaitGroup
	// stopped, once Shutdown began: flushes are written at once, and stop
	// wakes the one waiting.
	stopped bool
	stop    chan struct{}
}

// keyReads is one key's markers, by target (roomTarget, privateTarget).
type keyReads struct {
	marks    map[string]uint64
	dirty    map[string]int64 // advanced since last written
	sessions int              // connected sessions of the key
	loaded   bool             // the stored markers were read
}

func newReadBook() *readBook {
	return &readBook{keys: map[string]*keyReads{}, dirtyKeys: map[string]bool{}, stop: make(chan struct{})}
}

// roomTarget and privateTarget name a conversation's marker, in memory
// and in the store.
func roomTarget(name string) string    { return "#" + name }
func privateTarget(nick string) string { return "@" + access.Fold(nick) }

// dropIdleLocked forgets the key's entry once nothing needs it. b.mu must
// be held.
func (b *readBook) dropIdleLocked(fingerprint string, k *keyReads) {
	if k.sessions == 0 && len(k.dirty) == 0 && b.writing == 0 {
		delete(b.keys, fingerprint)
	}
}

// marker is the key's marker for target, 0 if none.
func (b *readBook) marker(fingerprint, target string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k := b.keys[fingerprint]; k != nil {
		return k.marks[target]
	}
	return 0
}

// advance moves the key's marker for target to id if that is forward,
// marking it to be written when stored is set. It reports whether it
// moved, and how many sessions the key has.
func (b *readBook) advance(fingerprint, target string, id uint64, stored bool) (moved bool, sessions int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.keys[fingerprint]
	if k == nil {
		return false, 0 // its session is leaving
	}
	old, known := k.marks[target]
	if id <= old || !known && len(k.marks) >= maxReadTargets {
		return false, k.sessions
	}
	k.marks[target] = id
	if stored {
		k.dirty[target] = int64(id)
		b.dirtyKeys[fingerprint] = true
	}
	return true, k.sessions
}

// attachReads counts a new session of a key and, the first time, loads
// the key's stored markers; before the session joins any room, so that
// each join can tell it its marker.
func (h *Hub) attachReads(s *Session) {
	if s.fingerprint == "" {
		return
	}
	b := h.reads
	b.mu.Lock()
	k := b.keys[s.fingerprint]
	if k == nil {
		k = &keyReads{marks: map[string]uint64{}, dirty: map[string]int64{}}
		b.keys[s.fingerprint] = k
	}
	k.sessions++
	loaded := k.loaded
	b.mu.Unlock()
	if loaded {
		return
	}
	var stored map[string]int64
	if err := h.persist("read markers read", "", func(ctx context.Context) (err error) {
		stored, err = h.store.ReadMarkers(ctx, s.fingerprint)
		return err
	}, "key", s.fingerprint); err != nil {
		return // starts with what is in memory; the next session tries again
	}
	b.mu.Lock()
	for target, id := range stored {
		if id > 0 && uint64(id) > k.marks[target] {
			k.marks[target] = uint64(id)
		}
	}
	k.loaded = true
	b.mu.Unlock()
}

// detachReads counts a session of a key gone.
func (h *Hub) detachReads(s *Session) {
	if s.fingerprint == "" {
		return
	}
	b := h.reads
	b.mu.Lock()
	defer b.mu.Unlock()
	if k := b.keys[s.fingerprint]; k != nil {
		k.sessions--
		b.dropIdleLocked(s.fingerprint, k)
	}
}

// MarkRead advances the read marker of the session's key for a room it is
// in (room, "" for its current room) or, with room "" and nick set, for
// its private conversation with nick, to message id; the key's other
// sessions are sent a KindRead event. An id past the conversation's newest
// message counts as its newest. A guest's marks are not kept: ignored.
func (h *Hub) MarkRead(s *Session, room, nick string, id uint64) {
	if _, err := h.markRead(s, room, nick, id); err != nil {
		h.fail(s, err)
	}
}

// markRead is MarkRead, telling where the marker is now.
func (h *Hub) markRead(s *Session, room, nick string, id uint64) (now uint64, err error) {
	if s.fingerprint == "" {
		return 0, nil
	}
	ev := &Event{Kind: KindRead, Time: h.now()}
	var target string
	stored := true
	if room != "" || nick == "" {
		r, err := h.targetRoom(s, room)
		if err != nil {
			return 0, err
		}
		id = min(id, r.lastID.Load())
		target, ev.Room = roomTarget(r.name), r.name
	} else {
		if err := ValidateNick(nick); err != nil {
			return 0, err
		}
		// Private message ids restart with the server unless they are
		// stored: only then is a marker worth keeping.
		id, stored = min(id, h.lastPM.Load()), h.storePM
		target, ev.To = privateTarget(nick), nick
	}
	moved, sessions := h.reads.advance(s.fingerprint, target, id, stored)
	if !moved {
		return h.reads.marker(s.fingerprint, target), nil
	}
	ev.ID = id
	if sessions > 1 {
		for _, same := range h.sessionsOfKey(s.fingerprint) {
			if same != s {
				same.deliver(ev)
			}
		}
	}
	if stored {
		h.scheduleReadFlush()
	}
	return id, nil
}

// scheduleReadFlush writes the advanced markers readFlushEvery from now,
// unless a write is already waiting; at once without an interval or once
// Shutdown began.
func (h *Hub) scheduleReadFlush() {
	b := h.reads
	b.mu.Lock()
	if b.stopped || h.readFlushEvery <= 0 {
		b.mu.Unlock()
		h.flushReads()
		return
	}
	if b.scheduled {
		b.mu.Unlock()
		return
	}
	b.scheduled = true
	b.flushes.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.flushes.Done()
		t := time.NewTimer(h.readFlushEvery)
		defer t.Stop()
		select {
		case <-t.C:
		case <-b.stop:
		}
		h.flushReads()
	}()
}

// flushReads writes every key's advanced markers in one store write. A
// failed write keeps them to be written with the next.
func (h *Hub) flushReads() {
	b := h.reads
	b.mu.Lock()
	b.scheduled = false
	var batch []store.ReadMarker
	for fp := range b.dirtyKeys {
		k := b.keys[fp]
		for target, id := range k.dirty {
			batch = append(batch, store.ReadMarker{Fingerprint: fp, Target: target, ID: id})
		}
		k.dirty = map[string]int64{}
	}
	clear(b.dirtyKeys)
	if len(batch) == 0 {
		b.mu.Unlock()
		return
	}
	b.writing++
	b.mu.Unlock()
	err := h.persist("read markers write", "", func(ctx context.Context) error {
		return h.store.AdvanceReadMarkers(ctx, batch)
	}, "markers", len(batch))
	b.mu.Lock()
	b.writing--
	if err != nil {
		for _, m := range batch {
			// No entry is dropped while a write is under way.
			if k := b.keys[m.Fingerprint]; k != nil {
				k.dirty[m.Target] = max(k.dirty[m.Target], m.ID)
				b.dirtyKeys[m.Fingerprint] = true
			}
		}
	}
	// Keys whose last session left during a write, or whose markers it
	// just wrote, are needed no more.
	for fp, k := range b.keys {
		b.dropIdleLocked(fp, k)
	}
	retry := err != nil && !b.stopped && h.readFlushEvery > 0
	b.mu.Unlock()
	if retry {
		h.scheduleReadFlush()
	}
}

// flushAllReads writes what is left to write (Shutdown): the flush waiting
// is woken and waited for, and later ones are written at once.
func (h *Hub) flushAllReads() {
	b := h.reads
	b.mu.Lock()
	if !b.stopped {
		b.stopped = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.flushes.Wait()
	h.flushReads()
}

// readOnJoinLocked tells s, joining r, where its key's marker for r is.
// r.mu is held.
func (h *Hub) readOnJoinLocked(s *Session, r *Room, now time.Time) {
	if s.fingerprint == "" {
		return
	}
	if id := h.reads.marker(s.fingerprint, roomTarget(r.name)); id > 0 {
		s.deliver(&Event{Kind: KindRead, Room: r.name, ID: id, Time: now})
	}
}

// noteLastPM keeps the largest private message id given out, which bounds
// a private conversation's marker.
func (h *Hub) noteLastPM(id uint64) {
	for {
		old := h.lastPM.Load()
		if id <= old || h.lastPM.CompareAndSwap(old, id) {
			return
		}
	}
}

// readCommand is /read [#ROOM]: everything in the room is read.
func (h *Hub) readCommand(s *Session, r *Room) error {
	had := h.reads.marker(s.fingerprint, roomTarget(r.name))
	now, err := h.markRead(s, "#"+r.name, "", r.lastID.Load())
	if err != nil {
		return err
	}
	switch {
	case now == 0:
		h.notice(s, "#"+r.name+" has no messages yet.")
	case now == had:
		h.notice(s, "#"+r.name+" was already read.")
	default:
		h.notice(s, "#"+r.name+" is read, up to its newest message; your other devices were told.")
	}
	return nil
}

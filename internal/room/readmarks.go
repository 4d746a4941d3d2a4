package room

import (
	"context"
	"sync"
	"time"

	"github.com/tertulia/tertulia/internal/access"
)

// Read markers: for each key and conversation, the id of the last message
// its user has read, shared by every device (session) of the key. A marker
// only moves forward. Guests have none.
//
// A marker advanced by any session is at once sent, as a KindRead event,
// to the key's other sessions. Clients may send one at every scroll, so the
// store is written coalesced: at most once per key every readFlushEvery,
// and when the key's last session leaves or the server stops.

// DefaultReadFlushEvery bounds how often one key's read markers are
// written to the store.
const DefaultReadFlushEvery = 5 * time.Second

// maxReadTargets bounds the conversations one key keeps a marker for: a
// client naming ever new nicks cannot grow it without end.
const maxReadTargets = 1000

// WithReadFlush sets how often at most a key's advanced read markers are
// written to the store (DefaultReadFlushEvery); 0 or less writes them at
// once.
func WithReadFlush(every time.Duration) Option { return func(h *Hub) { h.readFlushEvery = every } }

// readBook holds the read markers of the keys that have a session, and
// those advanced but not yet written. mu is a leaf lock: nothing is taken
// under it, and it is never held across store I/O.
type readBook struct {
	mu   sync.Mutex
	keys map[string]*keyReads
	// stop is closed by Shutdown: pending flushes stop waiting.
	stop     chan struct{}
	stopOnce sync.Once
}

// keyReads is one key's markers, by target (readTarget).
type keyReads struct {
	marks map[string]uint64
	dirty map[string]int64 // advanced since last written
	// sessions: how many of the key's sessions are connected; writing:
	// flushes under way; scheduled: a flush waits for its time. The entry
	// is dropped when all three are nothing and dirty is empty.
	sessions  int
	writing   int
	scheduled bool
	loaded    bool
}

func newReadBook() *readBook {
	return &readBook{keys: map[string]*keyReads{}, stop: make(chan struct{})}
}

// roomTarget and privateTarget name a conversation's marker, in memory
// and in the store.
func roomTarget(name string) string    { return "#" + name }
func privateTarget(nick string) string { return "@" + access.Fold(nick) }

// dropIdleLocked forgets the key's entry once nothing needs it. b.mu must
// be held.
func (b *readBook) dropIdleLocked(fingerprint string, k *keyReads) {
	if k.sessions == 0 && k.writing == 0 && !k.scheduled && len(k.dirty) == 0 {
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

// detachReads counts a session of a key gone; the last one writes what is
// left to write.
func (h *Hub) detachReads(s *Session) {
	if s.fingerprint == "" {
		return
	}
	b := h.reads
	b.mu.Lock()
	k := b.keys[s.fingerprint]
	if k == nil {
		b.mu.Unlock()
		return
	}
	k.sessions--
	last := k.sessions == 0
	b.mu.Unlock()
	if last {
		h.flushReads(s.fingerprint)
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
		h.scheduleReadFlush(s.fingerprint)
	}
	return id, nil
}

// scheduleReadFlush writes the key's advanced markers readFlushEvery from
// now, unless a write is already waiting.
func (h *Hub) scheduleReadFlush(fingerprint string) {
	if h.readFlushEvery <= 0 {
		h.flushReads(fingerprint)
		return
	}
	b := h.reads
	b.mu.Lock()
	k := b.keys[fingerprint]
	if k == nil || k.scheduled || len(k.dirty) == 0 {
		b.mu.Unlock()
		return
	}
	k.scheduled = true
	b.mu.Unlock()
	go func() {
		t := time.NewTimer(h.readFlushEvery)
		defer t.Stop()
		select {
		case <-t.C:
		case <-b.stop:
		}
		h.flushReads(fingerprint)
	}()
}

// flushReads writes the key's advanced markers. A failed write keeps them
// to be written with the next.
func (h *Hub) flushReads(fingerprint string) {
	b := h.reads
	b.mu.Lock()
	k := b.keys[fingerprint]
	if k == nil {
		b.mu.Unlock()
		return
	}
	k.scheduled = false
	dirty := k.dirty
	if len(dirty) == 0 {
		b.dropIdleLocked(fingerprint, k)
		b.mu.Unlock()
		return
	}
	k.dirty = map[string]int64{}
	k.writing++
	b.mu.Unlock()
	err := h.persist("read markers write", "", func(ctx context.Context) error {
		return h.store.AdvanceReadMarkers(ctx, fingerprint, dirty)
	}, "key", fingerprint)
	b.mu.Lock()
	k.writing--
	if err != nil {
		for target, id := range dirty {
			k.dirty[target] = max(k.dirty[target], id)
		}
	}
	b.dropIdleLocked(fingerprint, k)
	b.mu.Unlock()
}

// flushAllReads writes every key's advanced markers (Shutdown).
func (h *Hub) flushAllReads() {
	b := h.reads
	b.stopOnce.Do(func() { close(b.stop) })
	b.mu.Lock()
	keys := make([]string, 0, len(b.keys))
	for fp, k := range b.keys {
		if len(k.dirty) > 0 {
			keys = append(keys, fp)
		}
	}
	b.mu.Unlock()
	for _, fp := range keys {
		h.flushReads(fp)
	}
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

package room

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Reasons a session ends, shown to the other members in its part notice.
const (
	ReasonQuit       = "quit"
	ReasonClosed     = "connection closed"
	ReasonSlowClient = "too slow: outbound queue full"
	ReasonStopping   = "server is stopping"
	ReasonFlooding   = "flooding"
	ReasonSignedOut  = "signed out"
)

// Session is one connected user, whichever front-end. The front-end reads
// Events() from its own writer goroutine; the core never blocks on it.
type Session struct {
	hub         *Hub
	id          uint64
	via         Via
	fingerprint string
	remote      string
	webLogin    string // hash of the browser's sign-in token, or ""
	since       time.Time
	// source is the unit remote is banned and muted as (connlimit.Source);
	// invalid if remote is not an address.
	source netip.Prefix

	out  chan *Event
	done chan struct{}

	// Rooms whose presence events were skipped while the queue was nearly
	// full; their member lists are sent again once it drains.
	lagging  atomic.Bool
	lagMu    sync.Mutex // a leaf lock: taken under room locks
	lagRooms map[string]struct{}

	closeOnce sync.Once
	leaveOnce sync.Once
	closed    bool                // guarded by mu: Close has run
	onClose   func(reason string) // guarded by mu; see OnClose

	lastActive    atomic.Int64 // unix nanoseconds of the last input
	limiter       *rate.Limiter
	refusedInARow atomic.Int32

	mu      sync.Mutex
	nick    string
	fold    string // foldNick(nick), computed once: key in h.nicks and room order
	reason  string
	away    string
	replyTo replyTarget // who last sent this session a private message
	rooms   []*Room     // joined rooms, in join order
	current *Room

	// A mute on the session itself follows it across /nick (guarded by
	// mu); zero mutedUntil: until lifted.
	muted      bool
	mutedUntil time.Time
}

// Events is the session's outbound queue. It is never closed: read it until
// Done is closed, then drain what is left.
func (s *Session) Events() <-chan *Event { return s.out }

// Done is closed when the session must end (quit, dropped, server stopping).
func (s *Session) Done() <-chan struct{} { return s.done }

// Nick is the session's current nick.
func (s *Session) Nick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nick
}

// Via is the front-end the session came through.
func (s *Session) Via() Via { return s.via }

// Fingerprint is the SHA256 fingerprint of the key the client proved it
// holds, or "" for guests.
func (s *Session) Fingerprint() string { return s.fingerprint }

// CurrentRoom is the name of the room plain messages go to ("" if none).
func (s *Session) CurrentRoom() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return ""
	}
	return s.current.name
}

// Away is the session's away message, "" when present.
func (s *Session) Away() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.away
}

// Rooms lists the names of the rooms the session is in, in join order.
func (s *Session) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, len(s.rooms))
	for i, r := range s.rooms {
		names[i] = r.name
	}
	return names
}

// SetCurrentRoom makes a joined room the one plain messages go to.
func (s *Session) SetCurrentRoom(name string) error {
	r := s.roomNamed(roomName(name))
	if r == nil {
		return userErr("not_in_room", "you are not in #"+roomName(name))
	}
	s.mu.Lock()
	s.current = r
	s.mu.Unlock()
	return nil
}

// CloseReason says why Done was closed.
func (s *Session) CloseReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Close ends the session: Done is closed so the front-end disconnects, and
// the session leaves its rooms at once, whatever its connection is doing.
// It never blocks, so it is safe to call while delivering to a room.
func (s *Session) Close(reason string) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.reason = reason
		s.closed = true
		f := s.onClose
		s.onClose = nil
		s.mu.Unlock()
		close(s.done)
		if f != nil {
			f(reason)
		}
		// Leave takes room locks, which the caller may hold.
		go s.Leave()
	})
}

// OnClose sets f to run once when the session is closed, with the reason,
// right after Done is closed (at once if it already is). It lets a
// front-end cut a connection whose writer is blocked on a peer that does not
// read without a goroutine per session waiting on Done. f runs in the
// goroutine calling Close, possibly under room locks: it must not block or
// call into the hub.
func (s *Session) OnClose(f func(reason string)) {
	s.mu.Lock()
	if !s.closed {
		s.onClose = f
		s.mu.Unlock()
		return
	}
	reason := s.reason
	s.mu.Unlock()
	f(reason)
}

// deliver queues ev without ever blocking: a session whose queue is full is
// closed rather than allowed to hold up the room.
//
// Other people's joins, parts and nick changes yield first: once the queue
// is three quarters full they are skipped for this session (connection
// storms would otherwise drop members who only read too slowly to follow
// other people's comings and goings), and the room's member list is sent
// again once the queue has drained (see Written). Messages are never
// skipped.
func (s *Session) deliver(ev *Event) {
	select {
	case <-s.done:
		return
	default:
	}
	if ev.Kind.presence() && len(s.out) >= cap(s.out)-cap(s.out)/4 && !s.own(ev) {
		s.lagMu.Lock()
		if s.lagRooms == nil {
			s.lagRooms = map[string]struct{}{}
		}
		s.lagRooms[ev.Room] = struct{}{}
		s.lagMu.Unlock()
		s.lagging.Store(true)
		s.hub.obs.PresenceSkipped(s.via)
		return
	}
	select {
	case s.out <- ev:
	default:
		s.Close(ReasonSlowClient)
	}
}

// own tells whether ev is about this session itself (its own join, part or
// nick change), which the front-ends need to follow their rooms.
// Presence events come from Room.publishLocked, under the room lock only.
func (s *Session) own(ev *Event) bool {
	nick := s.Nick()
	return ev.From == nick || ev.To == nick
}

// resyncPresence sends the member list of every room whose presence events
// were skipped, once the queue has room again: the list is queued under the
// room lock, so it takes its place in the room's order.
func (s *Session) resyncPresence() {
	if len(s.out) > cap(s.out)/4 || !s.lagging.CompareAndSwap(true, false) {
		return
	}
	s.lagMu.Lock()
	rooms := s.lagRooms
	s.lagRooms = nil
	s.lagMu.Unlock()
	now := s.hub.now()
	for name := range rooms {
		if r := s.roomNamed(name); r != nil {
			r.mu.Lock()
			if _, in := r.members[s]; in {
				s.deliver(r.membersEventLocked(now))
			}
			r.mu.Unlock()
		}
	}
}

func (s *Session) roomNamed(name string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		if r.name == name {
			return r
		}
	}
	return nil
}

func (s *Session) joinedRooms() []*Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Room(nil), s.rooms...)
}

// Error tells the session's user about a problem the front-end found in
// their input (for example a malformed frame), in order with their events.
func (s *Session) Error(code, text string) {
	s.hub.fail(s, userErr(code, text))
}

// Notice sends the session's user a plain notice.
func (s *Session) Notice(text string) { s.hub.notice(s, text) }

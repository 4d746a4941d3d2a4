package room

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Session is one connected user, whichever front-end. The front-end reads
// Events() from its own writer goroutine; the core never blocks on it.
type Session struct {
	hub         *Hub
	id          uint64
	person      *person // set by Connect, then never changed
	via         Via
	fingerprint string
	remote      string
	webLogin    string // hash of the browser's sign-in token, or ""
	botToken    string // hash of the bot token it signed in with, or ""
	bot         bool   // a program (Identity.Bot)
	since       time.Time
	// source is the unit remote is banned and muted as (connlimit.Source);
	// invalid if remote is not an address.
	source netip.Prefix

	// What deliver reads for every member, kept together so that a room's
	// fan-out touches one cache line of each session.
	out  chan *Event
	done chan struct{}
	// prefs are the user's settings (settings.go); nil: the defaults.
	prefs atomic.Pointer[Preferences]
	// queued, when set, runs after each event is queued (OnQueued).
	queued atomic.Pointer[func()]

	// What was skipped while the queue was nearly full, by room ("" for
	// private messages); made good once it drains (see deliver, Ack).
	// lagging is set while lagRooms is not empty, so the common path reads
	// one atomic.
	lagging  atomic.Bool
	lagMu    sync.Mutex // a leaf lock: taken under room locks
	lagRooms map[string]*roomLag
	// lagProgress is when the lag began or, after that, when an event was
	// last written: a session lagging with no progress for the hub's
	// slowTimeout is dropped. Guarded by lagMu.
	lagProgress time.Time

	closeOnce sync.Once
	leaveOnce sync.Once
	closed    bool                       // guarded by mu: Close has run
	onClose   []func(reason CloseReason) // guarded by mu; see OnClose

	// wantsSettings: the front-end is sent KindSettings events.
	wantsSettings bool
	// oneShot: a session for one command (Identity.OneShot, oneshot.go).
	oneShot bool

	// saying is the cid of the say being handled (see InputWithCID), nil
	// when it has none.
	saying atomic.Pointer[sayTag]

	lastActive    atomic.Int64 // unix nanoseconds of the last input
	limiter       *rate.Limiter
	roomLimiter   *rate.Limiter // room creations; guarded by mu, made on first use
	refusedInARow atomic.Int32

	mu     sync.Mutex
	nick   string
	fold   string // access.Fold(nick), computed once: key in h.nicks and room order
	reason CloseReason
	// quitMessage is what the user said with /quit, shown to the others.
	quitMessage string
	away        string
	// keys is the front-end's list of its key bindings, for /help.
	keys    string
	replyTo replyTarget // who last sent this session a private message
	rooms   []*Room     // joined rooms, in join order
	current *Room
	// watching: the rooms a one-shot session follows unlisted (Watch).
	watching []*Room

	// A mute on the session itself follows it across /nick (guarded by
	// mu); zero mutedUntil: until lifted.
	muted      bool
	mutedUntil time.Time
}

// Events is the session's outbound queue. It is never closed: read it until
// Done is closed, then Drain what is left.
func (s *Session) Events() <-chan *Event { return s.out }

// Done is closed when the session must end (quit, dropped, server stopping).
func (s *Session) Done() <-chan struct{} { return s.done }

// Nick is the session's current nick.
func (s *Session) Nick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nick
}

// CurrentRoom is the name of the room plain messages go to ("" if none).
func (s *Session) CurrentRoom() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return ""
	}
	return s.current.name
}

// awayReason is the session's away message, "" when present.
func (s *Session) awayReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.away
}

// setAway sets the away message; "" means present.
func (s *Session) setAway(reason string) {
	s.mu.Lock()
	s.away = reason
	s.mu.Unlock()
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

// AppendRooms appends the names Rooms returns to dst: a caller that asks
// for every frame reuses its slice.
func (s *Session) AppendRooms(dst []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		dst = append(dst, r.name)
	}
	return dst
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

// setQuitMessage keeps what the user said with /quit, for the others.
func (s *Session) setQuitMessage(text string) {
	s.mu.Lock()
	s.quitMessage = text
	s.mu.Unlock()
}

// partText is what the others are told when the session leaves: its close
// reason, with what the user said with /quit. The session's own close
// reason (a websocket's close frame) stays the bare reason.
func (s *Session) partText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason.Code == CodeQuit && s.quitMessage != "" {
		return withWhy(s.reason.Text, s.quitMessage)
	}
	return s.reason.Text
}

// truncateRunes is s cut to at most n characters.
func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// CloseReason says why Done was closed; the zero CloseReason while it is
// not.
func (s *Session) CloseReason() CloseReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Close ends the session: Done is closed so the front-end disconnects, and
// the session leaves its rooms at once, whatever its connection is doing.
// It never blocks, so it is safe to call while delivering to a room.
func (s *Session) Close(reason CloseReason) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.reason = reason
		s.closed = true
		hooks := s.onClose
		s.onClose = nil
		s.mu.Unlock()
		close(s.done)
		for _, f := range hooks {
			f(reason)
		}
		// Leave takes room locks, which the caller may hold.
		go s.Leave()
	})
}

// OnClose adds f to run once when the session is closed, with the reason,
// right after Done is closed (at once if it already is), after the hooks
// added before it. It lets a front-end cut a connection whose writer is
// blocked on a peer that does not read, or wake a loop that waits on other
// channels, without a goroutine per session waiting on Done. f runs in the
// goroutine calling Close, possibly under room locks: it must not block or
// call into the hub.
func (s *Session) OnClose(f func(reason CloseReason)) {
	s.mu.Lock()
	if !s.closed {
		s.onClose = append(s.onClose, f)
		s.mu.Unlock()
		return
	}
	reason := s.reason
	s.mu.Unlock()
	f(reason)
}

// roomLag is what a lagging session was not sent of one room.
type roomLag struct {
	presence bool // joins, parts or nick changes: send the member list
	topic    bool // a topic change: send the topic
	missed   int  // messages (or private messages) skipped
}

// deliver queues ev without ever blocking, and without letting a session
// that reads slowly hold up the room or be dropped by a burst that every
// sender was allowed to make.
//
// As the queue fills up, other people's events yield, so the queue keeps
// room for what must never be skipped:
//   - once it is three quarters full, other people's joins, parts and nick
//     changes are skipped (the member list is sent again later);
//   - once it is seven eighths full, other people's messages, private
//     messages and topic changes are skipped and counted; later ones for
//     the same room are skipped too until the queue drains, so the gap is
//     in one place.
//
// Once the queue has drained (see Ack), the session gets, in each
// room's order, one missed event per room with the count (its history has
// the messages), the member list and the topic where needed.
//
// Never skipped: anything about the session itself (its welcome, its own
// joins, parts and nick changes, its own messages and private messages),
// answers to its own commands (member lists, history, notices, errors,
// room lists), moderation notices and missed events. If the whole queue
// is full even so, or the session lags without writing anything for the
// hub's slowTimeout, it is closed as too slow.
func (s *Session) deliver(ev *Event) {
	select {
	case <-s.done:
		return
	default:
	}
	if ev = s.filtered(ev); ev == nil {
		return // from someone the user ignores
	}
	if s.lagging.Load() || len(s.out) >= presenceMark(cap(s.out)) {
		if skipped, tooSlow := s.skip(ev); skipped {
			// Counted here, not in skip: lagMu is a leaf lock.
			switch {
			case ev.Kind.presence():
				s.hub.obs.PresenceSkipped(s.via)
			case ev.Kind != KindTopic:
				s.hub.obs.MessageSkipped(s.via)
			}
			if tooSlow {
				s.Close(ReasonSlowClient)
			}
			return
		}
	}
	select {
	case s.out <- ev:
		s.notifyQueued()
	default:
		s.Close(ReasonSlowClient)
	}
}

// OnQueued sets f to run after each event is queued for the session, in
// the goroutine that queued it, possibly under room locks: a front-end
// whose writer does not wait on Events (it has its events written for it
// while idle) learns there is something to write. f must not block or call
// into the hub. Events queued before OnQueued are not signalled.
func (s *Session) OnQueued(f func()) { s.queued.Store(&f) }

func (s *Session) notifyQueued() {
	if f := s.queued.Load(); f != nil {
		(*f)()
	}
}

// presenceMark and missMark are the queue lengths from which other people's
// presence events, and then their messages, are skipped; drainedMark is the
// length at which what was skipped is made good.
func presenceMark(size int) int { return size - size/4 }
func missMark(size int) int     { return size - max(size/8, 1) }
func drainedMark(size int) int  { return size / 4 }

// skip tells whether ev is skipped for this lagging or nearly full session,
// recording what must be made good; tooSlow: the session made no progress
// for too long and must be closed.
func (s *Session) skip(ev *Event) (skipped, tooSlow bool) {
	var key string // the lag entry ev goes to
	presence := ev.Kind.presence()
	switch {
	case presence:
		key = ev.Room
	case ev.Kind == KindMessage, ev.Kind == KindTopic && ev.From != "":
		key = ev.Room
	case ev.Kind == KindPrivate:
		key = ""
	default:
		return false, false
	}
	if !presence && s.hub.slowTimeout <= 0 {
		return false, false // --slow-timeout 0: drop rather than skip messages
	}
	// The session's own join, part or nick change (which the front-ends
	// need to follow their rooms), message or private message. Room events
	// are published under the room lock only, so reading the nick is safe.
	if nick := s.Nick(); ev.From == nick || presence && ev.To == nick {
		return false, false
	}
	queued, size := len(s.out), cap(s.out)
	now := s.hub.now()
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	lag := s.lagRooms[key]
	switch {
	case presence && queued >= presenceMark(size):
	case !presence && (queued >= missMark(size) || lag != nil && lag.missed > 0):
	default:
		return false, false
	}
	if len(s.out) == 0 {
		// The writer emptied the queue, maybe before this lag began or
		// before its last write could see it: no write may come to make
		// it good. ev is not skipped, after the missed count so far.
		if lag != nil && lag.missed > 0 {
			select {
			case s.out <- &Event{Kind: KindMissed, Room: key, Count: lag.missed, Time: now}:
				lag.missed = 0
				s.notifyQueued()
			default:
			}
		}
		return false, false
	}
	if lag == nil {
		if s.lagRooms == nil {
			s.lagRooms = map[string]*roomLag{}
		}
		lag = &roomLag{}
		s.lagRooms[key] = lag
	}
	switch {
	case presence:
		lag.presence = true
	case ev.Kind == KindTopic:
		lag.topic = true
	default:
		lag.missed++
	}
	if !s.lagging.Load() {
		s.lagging.Store(true)
		s.lagProgress = now
	}
	return true, s.hub.slowTimeout > 0 && now.Sub(s.lagProgress) >= s.hub.slowTimeout
}

// progressed notes that an event was written while lagging, then makes good
// what was skipped once the queue has drained: for each room, under its
// lock so that it takes its place in the room's order, the number of
// missed messages, the member list and the topic. A room's entry is only
// removed then, so its messages are skipped until its missed event is
// queued.
func (s *Session) progressed() {
	s.lagMu.Lock()
	s.lagProgress = s.hub.now()
	if len(s.out) > drainedMark(cap(s.out)) {
		s.lagMu.Unlock()
		return
	}
	names := make([]string, 0, len(s.lagRooms))
	for name := range s.lagRooms {
		names = append(names, name)
	}
	s.lagMu.Unlock()
	for _, name := range names {
		if name == "" {
			if lag := s.takeLag(name); lag != nil && lag.missed > 0 {
				s.deliver(&Event{Kind: KindMissed, Count: lag.missed, Time: s.hub.now()})
			}
			continue
		}
		r := s.roomNamed(name)
		if r == nil {
			s.takeLag(name) // parted since: nothing to make good
			continue
		}
		r.mu.Lock()
		if lag := s.takeLag(name); lag != nil {
			if _, in := r.members[s]; in {
				s.makeGoodLocked(r, lag)
			}
		}
		r.mu.Unlock()
	}
}

// makeGoodLocked queues what s missed of r. r.mu must be held.
func (s *Session) makeGoodLocked(r *Room, lag *roomLag) {
	now := s.hub.now()
	if lag.missed > 0 {
		s.deliver(&Event{Kind: KindMissed, Room: r.name, Count: lag.missed, Time: now})
	}
	if lag.presence {
		s.deliver(r.membersEventLocked(s.hub, now))
	}
	if lag.topic && r.topic != "" {
		s.deliver(&Event{Kind: KindTopic, Room: r.name, Text: r.topic, Time: now})
	}
}

// takeLag removes and returns the lag entry of a room; the session stops
// lagging with its last entry.
func (s *Session) takeLag(name string) *roomLag {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	lag := s.lagRooms[name]
	delete(s.lagRooms, name)
	if len(s.lagRooms) == 0 {
		s.lagRooms = nil
		s.lagging.Store(false)
	}
	return lag
}

// forgetLagLocked drops what s missed of r, which it is joining again (its
// member list and history follow). r.mu must be held.
func (s *Session) forgetLagLocked(r *Room) {
	if s.lagging.Load() {
		s.takeLag(r.name)
	}
}

// dropRoom takes r out of the session's rooms after it left r; its current
// room becomes the last one joined.
func (s *Session) dropRoom(r *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, joined := range s.rooms {
		if joined == r {
			s.rooms = append(s.rooms[:i:i], s.rooms[i+1:]...)
			break
		}
	}
	if s.current == r {
		s.current = nil
		if n := len(s.rooms); n > 0 {
			s.current = s.rooms[n-1]
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

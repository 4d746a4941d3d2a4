package room

import (
	"sort"
	"time"
)

// Presence in big rooms: above the hub's summary threshold, joins, parts,
// nick and away changes are not published one by one (filling a room of N
// would cost O(N²) events) but gathered under the room lock and sent as at
// most one KindPresence event per room per second. The member whose
// presence changed still gets its own join, part, nick or away event, so
// front-ends follow their own rooms and nick as in small rooms.

// Defaults and bounds of presence summaries and member pages.
const (
	// DefaultPresenceSummaryAbove is the member count above which a room's
	// presence is summed up.
	DefaultPresenceSummaryAbove = 200
	// SummaryListCap bounds each list of a presence summary; the rest
	// are counted.
	SummaryListCap = 20
	// SummaryInterval is the least time between two summaries of a room.
	SummaryInterval = time.Second
	// MembersPageSize is the page of members a joiner of a big room gets,
	// and a page request without a limit.
	MembersPageSize = 100
	// MaxMembersPage is the largest page of members one request gets.
	MaxMembersPage = 500
)

// WithPresenceSummaryAbove sums up presence in rooms of more than n
// members; 0 never does.
func WithPresenceSummaryAbove(n int) Option { return func(h *Hub) { h.summaryAbove = n } }

// WithTimer sets how the hub waits before sending a room's next presence
// summary (default time.After), so tests can drive it with their clock.
func WithTimer(after func(time.Duration) <-chan time.Time) Option {
	return func(h *Hub) { h.after = after }
}

// bigLocked tells whether r has more members than the summary threshold:
// its presence is summed up and its member list sent in pages. r.mu must be
// held.
func (r *Room) bigLocked(h *Hub) bool {
	if h.summaryAbove <= 0 {
		return false
	}
	// The other nodes' members count too; counting them costs, so only
	// when this node's alone do not decide.
	return len(r.order) > h.summaryAbove || len(r.remote) > 0 && r.countLocked() > h.summaryAbove
}

// summarizingLocked tells whether a presence change of r goes into its
// summary: r is big, or a summary is pending (so that no single event
// overtakes the changes before it). r.mu must be held.
func (r *Room) summarizingLocked(h *Hub) bool {
	return r.pending != nil || r.bigLocked(h)
}

// cappedNames appends item to list unless it holds SummaryListCap items
// already, in which case it counts it in more.
func cappedNames[T any](list []T, more *int, item T) []T {
	if len(list) >= SummaryListCap {
		*more++
		return list
	}
	return append(list, item)
}

// presenceLocked publishes ev, a presence change of r: one by one to every
// member in a small room, or added to the room's next summary (by note) in
// a big one. self, if any, are sessions of the person it is about: they,
// and the person's sessions in r, get ev itself either way, even those no
// longer members. r.mu must be held.
func (r *Room) presenceLocked(h *Hub, ev *Event, note func(*PresenceSummary), self ...*Session) {
	r.sharePresenceLocked(h)
	if !r.summarizingLocked(h) {
		r.publishLocked(h, ev)
		for _, s := range self {
			if _, in := r.members[s]; !in {
				s.deliver(ev)
			}
		}
		return
	}
	if ev.Time.IsZero() {
		ev.Time = h.now()
	}
	ev.Room = r.name
	if len(self) > 0 {
		if i := r.personIndexLocked(self[0].person); i >= 0 {
			r.order[i].deliverLocked(ev)
		}
		for _, s := range self {
			if _, in := r.members[s]; !in {
				s.deliver(ev)
			}
		}
	}
	if r.pending == nil {
		r.pending = &PresenceSummary{}
	}
	note(r.pending)
	if r.flushing {
		return // the waiting flush sends it
	}
	now := h.now()
	wait := r.lastSummary.Add(SummaryInterval).Sub(now)
	if wait <= 0 {
		r.flushLocked(h, now)
		return
	}
	r.flushing = true
	go r.flushAfter(h, h.after(wait))
}

// flushAfter sends r's pending summary once timer fires: a goroutine that
// lives at most SummaryInterval, one per room at a time.
func (r *Room) flushAfter(h *Hub, timer <-chan time.Time) {
	<-timer
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushing = false
	if r.pending != nil {
		r.flushLocked(h, h.now())
	}
}

// flushLocked publishes r's pending summary with the member count now.
// r.mu must be held.
func (r *Room) flushLocked(h *Hub, now time.Time) {
	sum := r.pending
	r.pending = nil
	r.lastSummary = now
	if r.removed.Load() {
		return
	}
	r.publishLocked(h, &Event{Kind: KindPresence, Presence: sum, Count: r.countLocked(), Time: now})
}

// notePart, noteJoin, noteNick and noteAway add one change to a summary.
func noteJoin(nick string) func(*PresenceSummary) {
	return func(p *PresenceSummary) { p.Joined = cappedNames(p.Joined, &p.JoinedMore, nick) }
}

func notePart(nick string) func(*PresenceSummary) {
	return func(p *PresenceSummary) { p.Left = cappedNames(p.Left, &p.LeftMore, nick) }
}

func noteNick(old, nick string) func(*PresenceSummary) {
	return func(p *PresenceSummary) {
		p.Nicks = cappedNames(p.Nicks, &p.NicksMore, NickChange{Old: old, New: nick})
	}
}

func noteAway(nick, away string) func(*PresenceSummary) {
	return func(p *PresenceSummary) {
		if away != "" {
			p.GoneAway = cappedNames(p.GoneAway, &p.GoneAwayMore, nick)
		} else {
			p.Back = cappedNames(p.Back, &p.BackMore, nick)
		}
	}
}

// membersPageLocked is the page of at most limit members filed after
// cursor (a folded nick; "" for the first page), sorted as the full list.
// The cursor is a key, not an offset, so paging on while members join and
// leave lists each member who stays exactly once. r.mu must be held.
func (r *Room) membersPageLocked(cursor string, limit int, now time.Time) *Event {
	n, keyAt, listed := len(r.order), func(i int) string { return r.order[i].key }, r.listed
	if len(r.remote) > 0 {
		// The other nodes' members are paged with this node's.
		var keys []string
		keys, listed = r.mergedKeyedLocked()
		n, keyAt = len(keys), func(i int) string { return keys[i] }
	}
	start := 0
	if cursor != "" {
		start = sort.Search(n, func(i int) bool { return keyAt(i) > cursor })
	}
	end := min(start+limit, n)
	ev := &Event{Kind: KindMembers, Room: r.name, Paged: true, Cursor: cursor, Count: n, Time: now,
		Members: append(make([]Member, 0, end-start), listed[start:end]...)}
	if end < n && end > start {
		ev.Next = keyAt(end - 1)
	}
	return ev
}

// MembersRequest answers a request for a page of room's members (s's
// current room if "") after cursor (see membersPageLocked); limit is
// clamped to 1..MaxMembersPage, MembersPageSize if 0 or less. The room
// need not be one s is in. Like a line, it spends s's rate budget.
func (h *Hub) MembersRequest(s *Session, room, cursor string, limit int) {
	if !h.allowInput(s) {
		return
	}
	if room == "" {
		room = s.CurrentRoom()
	}
	r, err := h.roomByName(roomName(room), false)
	if err != nil {
		h.fail(s, err)
		return
	}
	s.deliver(r.membersPage(h, cursor, limit))
}

func (r *Room) membersPage(h *Hub, cursor string, limit int) *Event {
	if limit <= 0 {
		limit = MembersPageSize
	}
	limit = min(limit, MaxMembersPage)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.membersPageLocked(cursor, limit, h.now())
}

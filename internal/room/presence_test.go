package room

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeTimers hands out timers that fire when the fake clock is advanced
// past them.
type fakeTimers struct {
	clock interface {
		Now() time.Time
		Advance(time.Duration)
	}

	mu      sync.Mutex
	waiting []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	at := f.clock.Now().Add(d)
	if d <= 0 {
		c <- at
		return c
	}
	f.mu.Lock()
	f.waiting = append(f.waiting, fakeTimer{at, c})
	f.mu.Unlock()
	return c
}

// Advance moves the clock on and fires the timers that are due.
func (f *fakeTimers) Advance(d time.Duration) {
	f.clock.Advance(d)
	now := f.clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.waiting[:0]
	for _, t := range f.waiting {
		if t.at.After(now) {
			kept = append(kept, t)
			continue
		}
		t.c <- now
	}
	f.waiting = kept
}

func newSummaryHub(t *testing.T, above int) (*Hub, *fakeTimers) {
	t.Helper()
	timers := &fakeTimers{clock: newFakeClock()}
	h := newTestHub(t, WithClock(timers.clock.Now), WithTimer(timers.After), WithQueueSize(4096), WithPresenceSummaryAbove(above))
	return h, timers
}

// drain returns what s has queued so far.
func drain(s *Session) []*Event {
	var evs []*Event
	for len(s.Events()) > 0 {
		evs = append(evs, <-s.Events())
	}
	return evs
}

func summaryTotal(l []string, more int) int { return len(l) + more }

// In a room at or below the threshold, every member sees each join, part
// and nick change one by one, and no summary.
func TestSmallRoomPresenceOneByOne(t *testing.T) {
	h, _ := newSummaryHub(t, 5)
	obs := connect(t, h, "obs", ViaWeb)
	var others []*Session
	for i := range 4 {
		others = append(others, connect(t, h, fmt.Sprintf("m%d", i), ViaWeb))
	}
	h.Input(others[0], "", "/nick renamed")
	others[1].Leave()
	var joins, parts, nicks int
	for _, ev := range drain(obs) {
		switch ev.Kind {
		case KindJoin:
			if ev.From != "obs" {
				joins++
			}
		case KindPart:
			parts++
		case KindNick:
			nicks++
		case KindPresence:
			t.Fatalf("summary in a room of at most 5: %+v", ev.Presence)
		}
	}
	if joins != 4 || parts != 1 || nicks != 1 {
		t.Fatalf("saw %d joins, %d parts, %d nick changes; want 4, 1, 1", joins, parts, nicks)
	}
}

// Above the threshold, members get summaries instead of single presence
// events, at most one a second per room, and once the room is quiet the
// last summary's count is the true member count. Each joiner still gets
// its own join, and its first member page.
func TestBigRoomPresenceSummarised(t *testing.T) {
	const above = 5
	h, timers := newSummaryHub(t, above)
	obs := connect(t, h, "obs", ViaWeb)
	var members []*Session
	for i := range above {
		members = append(members, connect(t, h, fmt.Sprintf("m%02d", i), ViaWeb))
	}
	// The room has above+1 members now: the last join was summed up.
	drain(obs)
	var seen []*Event
	for round := range 3 {
		for i := range 10 {
			s := connect(t, h, fmt.Sprintf("r%dj%02d", round, i), ViaWeb)
			if round == 0 && i == 0 {
				evs := drain(s)
				if len(evs) < 3 || evs[0].Kind != KindWelcome || evs[1].Kind != KindJoin || evs[1].From != s.Nick() || evs[2].Kind != KindMembers {
					t.Fatalf("a joiner of a big room got %v first, want welcome, its own join, members", kinds(evs))
				}
				if !evs[2].Paged || evs[2].Count != len(members)+2 {
					t.Fatalf("joiner's member list: paged %v, count %d; want a page of %d", evs[2].Paged, evs[2].Count, len(members)+2)
				}
			}
			members = append(members, s)
		}
		members[0].Leave()
		members = members[1:]
		h.Input(members[1], "", fmt.Sprintf("/nick renamed%d", round))
		h.Input(members[2], "", "/away lunch")
		timers.Advance(400 * time.Millisecond)
		timers.Advance(600 * time.Millisecond)
		// The round's summary, once the flush has run.
		for ev := next(t, obs); ; ev = next(t, obs) {
			seen = append(seen, ev)
			if ev.Kind == KindPresence {
				break
			}
		}
	}
	timers.Advance(time.Second)
	seen = append(seen, drain(obs)...)

	var last time.Time
	var summaries, joined, left, renamed, away int
	var final *Event
	for _, ev := range seen {
		switch ev.Kind {
		case KindJoin, KindPart, KindNick, KindAway:
			t.Fatalf("a member of a big room got a single %v of %s", ev.Kind, ev.From)
		case KindPresence:
			if !last.IsZero() && ev.Time.Sub(last) < SummaryInterval {
				t.Fatalf("two summaries %s apart", ev.Time.Sub(last))
			}
			last, final = ev.Time, ev
			summaries++
			p := ev.Presence
			joined += summaryTotal(p.Joined, p.JoinedMore)
			left += summaryTotal(p.Left, p.LeftMore)
			renamed += len(p.Nicks) + p.NicksMore
			away += summaryTotal(p.GoneAway, p.GoneAwayMore)
		}
	}
	if summaries != 3 || joined != 30 || left != 3 || renamed != 3 || away != 3 {
		t.Fatalf("%d summaries told %d joins, %d parts, %d renames, %d gone away; want 3 telling 30, 3, 3, 3", summaries, joined, left, renamed, away)
	}
	if want := len(members) + 1; final.Count != want {
		t.Fatalf("last summary counts %d members, the room has %d", final.Count, want)
	}
}

// A summary lists at most SummaryListCap names per change and counts the
// rest, so that no change is lost from the totals.
func TestSummaryListsAreCapped(t *testing.T) {
	const above = 2
	h, timers := newSummaryHub(t, above)
	obs := connect(t, h, "obs", ViaWeb)
	connect(t, h, "a", ViaWeb)
	connect(t, h, "b", ViaWeb) // summed up at once: no summary was sent before
	drain(obs)
	const joiners = SummaryListCap + 7
	for i := range joiners {
		connect(t, h, fmt.Sprintf("j%02d", i), ViaWeb)
	}
	timers.Advance(SummaryInterval)
	ev := nextKind(t, obs, KindPresence)
	if len(ev.Presence.Joined) != SummaryListCap || ev.Presence.JoinedMore != joiners-SummaryListCap {
		t.Fatalf("summary lists %d joiners and counts %d more, want %d and %d", len(ev.Presence.Joined), ev.Presence.JoinedMore, SummaryListCap, joiners-SummaryListCap)
	}
	if ev.Count != 3+joiners {
		t.Fatalf("summary counts %d members, want %d", ev.Count, 3+joiners)
	}
}

func kinds(evs []*Event) []Kind {
	var ks []Kind
	for _, ev := range evs {
		ks = append(ks, ev.Kind)
	}
	return ks
}

// Paging through a room lists every member who stays exactly once, in the
// order of the full list (by folded nick), while others join and leave between pages.
func TestMembersPagingEachMemberOnce(t *testing.T) {
	h := newTestHub(t, WithQueueSize(8192), WithPresenceSummaryAbove(50))
	obs := connect(t, h, "obs", ViaWeb)
	stay := map[string]bool{"obs": true}
	var churn []*Session
	for i := range 300 {
		s := connect(t, h, fmt.Sprintf("m%03d", i), ViaWeb)
		if i%3 == 0 {
			churn = append(churn, s)
		} else {
			stay[s.Nick()] = true
		}
	}
	drain(obs)
	seen := map[string]int{}
	var listed []string
	cursor := ""
	for page := 0; ; page++ {
		h.MembersRequest(obs, "lobby", cursor, 37)
		ev := nextKind(t, obs, KindMembers)
		if !ev.Paged || len(ev.Members) > 37 {
			t.Fatalf("page %d: paged %v with %d members", page, ev.Paged, len(ev.Members))
		}
		for _, m := range ev.Members {
			seen[m.Nick]++
			listed = append(listed, m.Nick)
		}
		// Churn between pages: some leave, others join on either side
		// of the cursor.
		if page < len(churn) {
			churn[page].Leave()
		}
		connect(t, h, fmt.Sprintf("a%03d", page), ViaWeb)
		connect(t, h, fmt.Sprintf("z%03d", page), ViaWeb)
		if ev.Next == "" {
			break
		}
		cursor = ev.Next
	}
	for nick, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", nick, n)
		}
	}
	for nick := range stay {
		if seen[nick] != 1 {
			t.Errorf("%s, a member throughout, listed %d times", nick, seen[nick])
		}
	}
	if !slices.Equal(listed, sortedByFold(listed)) {
		t.Errorf("pages out of order: %v", listed)
	}
}

// /who in a big room answers with the member count and the first page.
func TestWhoInBigRoomIsFirstPage(t *testing.T) {
	h := newTestHub(t, WithQueueSize(4096), WithPresenceSummaryAbove(10))
	obs := connect(t, h, "obs", ViaWeb)
	for i := range MembersPageSize + 20 {
		connect(t, h, fmt.Sprintf("m%03d", i), ViaWeb)
	}
	drain(obs)
	h.Input(obs, "", "/who")
	ev := nextKind(t, obs, KindMembers)
	if !ev.Paged || ev.Count != MembersPageSize+21 || len(ev.Members) != MembersPageSize || ev.Next == "" {
		t.Fatalf("/who: paged %v, count %d, %d listed, next %q", ev.Paged, ev.Count, len(ev.Members), ev.Next)
	}
	h.Input(obs, "", "/names #lobby "+ev.Next)
	rest := nextKind(t, obs, KindMembers)
	if len(rest.Members) != 21 || rest.Next != "" || rest.Cursor != ev.Next {
		t.Fatalf("/names with the cursor: %d listed, next %q, cursor %q", len(rest.Members), rest.Next, rest.Cursor)
	}
}

// In a big room a member still gets its own nick change, away and part one
// by one, as front-ends follow their own nick and rooms from them.
func TestBigRoomOwnPresenceComesOneByOne(t *testing.T) {
	h, _ := newSummaryHub(t, 2)
	me := connect(t, h, "me", ViaWeb)
	connect(t, h, "a", ViaWeb)
	connect(t, h, "b", ViaWeb)
	drain(me)
	h.Input(me, "", "/nick myself")
	if ev := nextKind(t, me, KindNick); ev.From != "me" || ev.To != "myself" || ev.Room != "lobby" {
		t.Fatalf("own nick change: %+v", ev)
	}
	h.Input(me, "", "/away lunch")
	if ev := nextKind(t, me, KindAway); ev.From != "myself" || ev.Text != "lunch" {
		t.Fatalf("own away: %+v", ev)
	}
	h.Input(me, "", "/part")
	if ev := nextKind(t, me, KindPart); ev.From != "myself" || ev.Room != "lobby" {
		t.Fatalf("own part: %+v", ev)
	}
}

// A summary pending when a big room shrinks to the threshold is sent before
// single presence events resume, so no change overtakes earlier ones.
func TestPendingSummaryBeforeSingleEventsResume(t *testing.T) {
	h, timers := newSummaryHub(t, 3)
	obs := connect(t, h, "obs", ViaWeb)
	a := connect(t, h, "a", ViaWeb)
	b := connect(t, h, "b", ViaWeb)
	c := connect(t, h, "c", ViaWeb) // four members: summed up, and sent at once
	drain(obs)
	connect(t, h, "d", ViaWeb) // pending until a second has passed
	a.Leave()
	b.Leave() // three members now, but a summary is pending
	if evs := drain(obs); len(evs) > 0 {
		t.Fatalf("before the summary's second: %v", kinds(evs))
	}
	timers.Advance(SummaryInterval)
	sum := nextKind(t, obs, KindPresence)
	if len(sum.Presence.Joined) != 1 || len(sum.Presence.Left) != 2 || sum.Count != 3 {
		t.Fatalf("summary: %+v, count %d; want d joined, a and b left, 3 members", sum.Presence, sum.Count)
	}
	h.Input(c, "", "/nick carol") // small again: one by one
	if ev := next(t, obs); ev.Kind != KindNick || ev.To != "carol" {
		t.Fatalf("after the summary: %v, want the nick change itself", ev.Kind)
	}
}

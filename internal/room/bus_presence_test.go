package room

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/tertulia/tertulia/internal/access"
)

// recordedPresence is a Presence that notes which rooms changed and holds
// no other node's lists.
type recordedPresence struct {
	mu      sync.Mutex
	changed []string
}

func (p *recordedPresence) Changed(room string) {
	p.mu.Lock()
	p.changed = append(p.changed, room)
	p.mu.Unlock()
}

func (p *recordedPresence) Snapshot(string) map[string][]SharedMember { return nil }

func sharedMember(nick string) SharedMember {
	return SharedMember{Key: nick, Member: Member{Nick: nick, Via: ViaWeb}}
}

// Another node's members are listed and counted with this node's and
// announced as they come and go; a person on both nodes is listed once
// and never seen to part while still here; a node whose entry is gone
// takes its members with it, with the reason given. Local joins are
// handed to the presence bus.
func TestRemoteMembersListedAndAnnounced(t *testing.T) {
	rec := &recordedPresence{}
	h := newTestHub(t, WithPresence(rec))
	carol := connect(t, h, "carol", ViaWeb)
	rec.mu.Lock()
	if !slices.Contains(rec.changed, h.lobby) {
		t.Fatalf("carol's join was not shared: %v", rec.changed)
	}
	rec.mu.Unlock()
	nextKind(t, carol, KindMembers) // carol's own join sequence

	h.RemoteMembers(h.lobby, "n1", []SharedMember{sharedMember("alice")}, "")
	if ev := nextKind(t, carol, KindJoin); ev.From != "alice" || ev.Count != 2 {
		t.Fatalf("alice's join: %+v", ev)
	}
	if got := whoNicks(t, h, carol); !slices.Equal(got, []string{"alice", "carol"}) {
		t.Fatalf("/who: %v", got)
	}

	// carol on a device on n1 too, and alice away there.
	away := sharedMember("alice")
	away.Away = "lunch"
	h.RemoteMembers(h.lobby, "n1", []SharedMember{away, sharedMember("carol")}, "")
	if ev := nextKind(t, carol, KindAway); ev.From != "alice" || ev.Text != "lunch" {
		t.Fatalf("alice's away: %+v", ev)
	}
	if got := whoNicks(t, h, carol); !slices.Equal(got, []string{"alice", "carol"}) {
		t.Fatalf("/who with carol on both nodes: %v", got)
	}

	h.RemoteMembers(h.lobby, "n1", nil, ReasonNodeLost)
	ev := nextKind(t, carol, KindPart)
	if ev.From != "alice" || ev.Text != ReasonNodeLost || ev.Count != 1 {
		t.Fatalf("part once n1 is gone: %+v", ev)
	}
	if got := whoNicks(t, h, carol); !slices.Equal(got, []string{"carol"}) {
		t.Fatalf("/who once n1 is gone: %v", got)
	}
	for len(carol.Events()) > 0 {
		if ev := <-carol.Events(); ev.Kind == KindPart || ev.Kind == KindJoin {
			t.Fatalf("unexpected %v of %s", ev.Kind, ev.From)
		}
	}
}

// A room big only with the other nodes' members counted is big: /who
// answers with its first page, the count covers every node, and paging on
// with the cursor lists every member once, this node's and the others'
// interleaved in the order of the full list; presence is summed up.
func TestBigRoomPagesIncludeOtherNodesMembers(t *testing.T) {
	timers := &fakeTimers{clock: newFakeClock()}
	h := newTestHub(t, WithClock(timers.clock.Now), WithTimer(timers.After), WithQueueSize(4096),
		WithPresenceSummaryAbove(10), WithPresence(&recordedPresence{}))
	obs := connect(t, h, "obs", ViaWeb)
	var mine []string
	for i := range 5 {
		mine = append(mine, connect(t, h, fmt.Sprintf("m%03d", 2*i), ViaWeb).Nick())
	}
	var theirs []SharedMember
	for i := range MembersPageSize + 20 {
		m := sharedMember(fmt.Sprintf("m%03d", 2*i+1))
		m.Key = access.Fold(m.Nick) // as nodes share them
		theirs = append(theirs, m)
	}
	drain(obs)
	h.RemoteMembers(h.lobby, "n1", theirs[:60], "")
	h.RemoteMembers(h.lobby, "n2", theirs[50:], "") // ten on both nodes
	timers.Advance(SummaryInterval)
	joined, count := 0, 0
	for joined < len(theirs) {
		switch ev := next(t, obs); ev.Kind {
		case KindJoin:
			t.Fatalf("%s's join came one by one in a big room", ev.From)
		case KindPresence:
			joined += summaryTotal(ev.Presence.Joined, ev.Presence.JoinedMore)
			count = ev.Count
		}
	}
	if joined != len(theirs) || count != 1+5+len(theirs) {
		t.Fatalf("summaries: %d joined, last count %d; want %d joined, count %d", joined, count, len(theirs), 1+5+len(theirs))
	}

	h.Input(obs, "", "/who")
	ev := nextKind(t, obs, KindMembers)
	total := 1 + len(mine) + len(theirs)
	if !ev.Paged || ev.Count != total || len(ev.Members) != MembersPageSize || ev.Next == "" {
		t.Fatalf("/who: paged %v, count %d, %d listed, next %q; want a page of %d members", ev.Paged, ev.Count, len(ev.Members), ev.Next, total)
	}
	listed := nicksOf(ev.Members)
	for cursor := ev.Next; cursor != ""; {
		h.MembersRequest(obs, "lobby", cursor, 7)
		page := nextKind(t, obs, KindMembers)
		if page.Count != total {
			t.Fatalf("page after %q counts %d, want %d", cursor, page.Count, total)
		}
		listed = append(listed, nicksOf(page.Members)...)
		cursor = page.Next
	}
	var want []string
	for _, m := range theirs {
		want = append(want, m.Nick)
	}
	want = sortedByFold(append(append(want, mine...), "obs"))
	if !slices.Equal(listed, want) {
		t.Fatalf("pages list\n%v\nwant\n%v", listed, want)
	}
}

func nicksOf(members []Member) []string {
	var out []string
	for _, m := range members {
		out = append(out, m.Nick)
	}
	return out
}

// A member of another node whose nick changes there is seen to change
// nick, as on one node, not to part and join; a person listed by two
// nodes who changes nick on both, one after the other, is seen to change
// it once.
func TestRemoteNickChangeIsANickEvent(t *testing.T) {
	h := newTestHub(t, WithPresence(&recordedPresence{}))
	carol := connect(t, h, "carol", ViaWeb)
	person := func(nick string, id uint64) SharedMember {
		m := sharedMember(nick)
		m.Person = id
		return m
	}
	h.RemoteMembers(h.lobby, "n1", []SharedMember{person("alice", 7)}, "")
	nextKind(t, carol, KindJoin)
	h.RemoteMembers(h.lobby, "n1", []SharedMember{person("alicia", 7)}, "")
	if ev := nextKind(t, carol, KindNick); ev.From != "alice" || ev.To != "alicia" {
		t.Fatalf("alice's nick change on n1: %+v", ev)
	}
	if got := whoNicks(t, h, carol); !slices.Equal(got, []string{"alicia", "carol"}) {
		t.Fatalf("/who after the change: %v", got)
	}

	// alicia's devices on n1 and n2 both become ali.
	h.RemoteMembers(h.lobby, "n2", []SharedMember{person("alicia", 3)}, "")
	h.RemoteMembers(h.lobby, "n1", []SharedMember{person("ali", 7)}, "")
	h.RemoteMembers(h.lobby, "n2", []SharedMember{person("ali", 3)}, "")
	if ev := nextKind(t, carol, KindNick); ev.From != "alicia" || ev.To != "ali" {
		t.Fatalf("the change on both nodes: %+v", ev)
	}
	if got := whoNicks(t, h, carol); !slices.Equal(got, []string{"ali", "carol"}) {
		t.Fatalf("/who after the change on both nodes: %v", got)
	}
	for len(carol.Events()) > 0 {
		if ev := <-carol.Events(); ev.Kind == KindPart || ev.Kind == KindJoin || ev.Kind == KindNick {
			t.Fatalf("unexpected %v of %s", ev.Kind, ev.From)
		}
	}
}

// A member's registration, which shows in member lists and in no event,
// is handed to the presence bus at once, so that the other nodes list
// the member as registered without waiting for its next join, part or
// away change.
func TestRegistrationIsSharedWithTheOtherNodes(t *testing.T) {
	p := &recordedPresence{}
	h := newTestHub(t, WithPresence(p))
	alice := connectKey(t, h, "alice", aliceKey, ViaSSH)
	p.mu.Lock()
	p.changed = nil
	p.mu.Unlock()
	answerTo(t, h, alice, "/register")
	if got := h.LocalMembers("lobby"); len(got) != 1 || !got[0].Registered {
		t.Fatalf("the lobby's members here: %+v", got)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.changed, "lobby") {
		t.Fatalf("the registration was not handed to the presence bus: %v", p.changed)
	}
}

// A person's /part takes them out of the room on every node: the others
// here see the part, with its reason, at once, although another node
// still lists the person's device in the room; when that node's list
// drops them nothing more is announced, and their coming back there is a
// join again.
func TestPartIsAnnouncedOnceWhileAnotherNodeStillListsThePerson(t *testing.T) {
	h := newTestHub(t, WithPresence(&recordedPresence{}))
	alice := aliceDevices(t, h)[0]
	bob := connect(t, h, "bob", ViaWeb)
	aliceThere := SharedMember{Key: access.Fold("alice"), Member: Member{Nick: "alice", Via: ViaWeb, Registered: true}}
	h.RemoteMembers("lobby", "two", []SharedMember{aliceThere}, "")
	drain(bob)

	h.Input(alice, "", "/part lobby")
	if ev := nextKind(t, bob, KindPart); ev.From != "alice" || ev.Text != "left" {
		t.Fatalf("bob saw %+v", ev)
	}
	h.RemoteMembers("lobby", "two", []SharedMember{}, "")
	if n := countOf(drain(bob), KindPart, "alice"); n != 0 {
		t.Fatalf("bob saw alice part %d more times once the other node dropped her", n)
	}
	h.RemoteMembers("lobby", "two", []SharedMember{aliceThere}, "")
	if n := countOf(drain(bob), KindJoin, "alice"); n != 1 {
		t.Fatalf("bob saw alice come back on the other node %d times", n)
	}
}

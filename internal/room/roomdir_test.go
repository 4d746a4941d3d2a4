package room

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/clocktest"
	"github.com/tertulia/tertulia/internal/store"
)

// listedPresence is a Presence whose other nodes' member lists the test
// sets, by room.
type listedPresence struct {
	mu    sync.Mutex
	lists map[string]map[string][]SharedMember
}

func (p *listedPresence) Changed(string) {}

func (p *listedPresence) Snapshot(room string) map[string][]SharedMember {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lists[room]
}

func (p *listedPresence) list(room, node string, nicks ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lists == nil {
		p.lists = map[string]map[string][]SharedMember{}
	}
	if len(nicks) == 0 {
		delete(p.lists, room)
		return
	}
	var members []SharedMember
	for _, n := range nicks {
		members = append(members, sharedMember(n))
	}
	p.lists[room] = map[string][]SharedMember{node: members}
}

// roomReadCounter counts the reads of the room list.
type roomReadCounter struct {
	*store.Memory
	roomReads atomic.Int64
}

func (s *roomReadCounter) Rooms(ctx context.Context) ([]store.Room, error) {
	s.roomReads.Add(1)
	return s.Memory.Rooms(ctx)
}

// sharedHubs makes two hubs of one cluster over st: one bus, a clock, the
// other node's lists as each presence says, and each telling the other
// its moderation changes.
func sharedHubs(t *testing.T, st store.Store, opts ...Option) (one, two *Hub, p1, p2 *listedPresence, clock *clocktest.Clock) {
	t.Helper()
	bus := newFakeBus()
	clock = newFakeClock()
	p1, p2 = &listedPresence{}, &listedPresence{}
	tell := func(other **Hub) Option {
		return WithModerationSync(func(c ModerationChange) {
			if _, err := (*other).ApplyModerationChange(c); err != nil {
				t.Errorf("applying %+v: %v", c, err)
			}
		})
	}
	base := []Option{WithStore(st), WithBus(fakeNode{bus}), WithClock(clock.Now), WithRoomReclaim(time.Minute)}
	one = newStoredHub(t, append(append(base, WithPresence(p1), tell(&two)), opts...)...)
	two = newStoredHub(t, append(append(base, WithPresence(p2), tell(&one)), opts...)...)
	return one, two, p1, p2, clock
}

// In a cluster an unused room (nothing stored, no topic, no +t) leaves the
// shared store, as on one node, once no node has anyone in it: a node
// that reclaims it while another lists a member keeps it stored, the last
// node to reclaim it deletes it, and a node told of the deletion drops its
// own unused copy, or stores the room again if someone is in it there. A
// room with a message stays.
func TestClusterReclaimsUnusedRoomsFromTheStore(t *testing.T) {
	st := store.NewMemory()
	one, two, p1, p2, clock := sharedHubs(t, st)
	alice := connect(t, one, "alice", ViaWeb)
	bob := connect(t, two, "bob", ViaWeb)

	// #quiet: bob is still in it on the other node when alice's node
	// reclaims it.
	one.Input(alice, "", "/join quiet")
	two.Input(bob, "", "/join quiet")
	one.Input(alice, "", "/part quiet")
	p1.list("quiet", "two", "bob")
	clock.Advance(2 * time.Minute)
	if n := one.ReclaimRooms(); n != 1 {
		t.Fatalf("reclaimed %d rooms, want 1", n)
	}
	if !slices.Contains(storedRoomNames(t, st), "quiet") {
		t.Fatal("#quiet was deleted from the store while bob was in it on the other node")
	}
	two.Input(bob, "", "/part quiet")
	clock.Advance(2 * time.Minute)
	if n := two.ReclaimRooms(); n != 1 {
		t.Fatalf("the other node reclaimed %d rooms, want 1", n)
	}
	if slices.Contains(storedRoomNames(t, st), "quiet") {
		t.Fatal("#quiet, unused on every node, is still stored")
	}

	// #idle: both nodes hold an unused copy; the first to reclaim it
	// deletes it and the other forgets its copy at once.
	one.Input(alice, "", "/join idle")
	two.Input(bob, "", "/join idle")
	one.Input(alice, "", "/part idle")
	two.Input(bob, "", "/part idle")
	clock.Advance(2 * time.Minute)
	p1.list("quiet", "two")
	if n := one.ReclaimRooms(); n != 1 {
		t.Fatalf("reclaimed %d rooms, want 1", n)
	}
	if _, err := two.roomByName("idle", false); err == nil {
		t.Fatal("the other node still holds #idle, deleted from the store")
	}

	// #race: carol came in on the other node before its presence showed:
	// the room is stored again for her, and she can talk there.
	carol := connect(t, two, "carol", ViaWeb)
	one.Input(alice, "", "/join race")
	one.Input(alice, "", "/part race")
	two.Input(carol, "", "/join race")
	clock.Advance(2 * time.Minute)
	if n := one.ReclaimRooms(); n != 1 {
		t.Fatalf("reclaimed %d rooms, want 1", n)
	}
	if !slices.Contains(storedRoomNames(t, st), "race") {
		t.Fatal("#race was not stored again for carol")
	}
	drain(carol)
	two.Input(carol, "race", "still here")
	if ev := nextKind(t, carol, KindMessage); ev.Text != "still here" {
		t.Fatalf("carol's message: %+v", ev)
	}

	// #kept holds a message: never reclaimed.
	one.Input(alice, "", "/join kept")
	one.Input(alice, "kept", "words")
	one.Input(alice, "", "/part kept")
	clock.Advance(2 * time.Minute)
	one.ReclaimRooms()
	p2.list("kept", "one")
	two.ReclaimRooms()
	if !slices.Contains(storedRoomNames(t, st), "kept") {
		t.Fatal("#kept, with a message, was deleted")
	}
}

// In a cluster /rooms lists every node's rooms from a list of the shared
// store's read at most every few seconds, not from a store read per call;
// a room made on another node shows once the list is read again.
func TestClusterRoomListIsCached(t *testing.T) {
	st := &roomReadCounter{Memory: store.NewMemory()}
	one, two, _, _, clock := sharedHubs(t, st)
	alice := connect(t, one, "alice", ViaWeb)
	bob := connect(t, two, "bob", ViaWeb)
	two.Input(bob, "", "/join garden")

	rooms := func() []string {
		one.Input(alice, "", "/rooms")
		var names []string
		for _, r := range nextKind(t, alice, KindRooms).RoomList {
			names = append(names, r.Name)
		}
		return names
	}
	before := st.roomReads.Load()
	for range 5 {
		if got := rooms(); !slices.Contains(got, "garden") {
			t.Fatalf("/rooms = %v, without the other node's #garden", got)
		}
	}
	if reads := st.roomReads.Load() - before; reads > 1 {
		t.Fatalf("five /rooms read the store's rooms %d times", reads)
	}
	two.Input(bob, "", "/join orchard")
	clock.Advance(storedRoomsEvery)
	if got := rooms(); !slices.Contains(got, "orchard") {
		t.Fatalf("/rooms = %v, without #orchard made on the other node", got)
	}
}

// --max-rooms counts the rooms of every node: once the cluster holds as
// many, no node creates another, but a room made on another node can be
// joined.
func TestClusterMaxRoomsCountsEveryNode(t *testing.T) {
	one, two, _, _, _ := sharedHubs(t, store.NewMemory(), WithMaxRooms(3), WithRoomReclaim(0))
	alice := connect(t, one, "alice", ViaWeb)
	bob := connect(t, two, "bob", ViaWeb)
	drain(alice)
	drain(bob)
	join := func(h *Hub, s *Session, room string) *Event {
		h.Input(s, "", "/join "+room)
		for {
			if ev := next(t, s); ev.Kind == KindMembers || ev.Kind == KindError {
				return ev
			}
		}
	}
	if ev := join(one, alice, "first"); ev.Kind == KindError {
		t.Fatalf("/join first: %q", ev.Text)
	}
	if ev := join(two, bob, "second"); ev.Kind == KindError {
		t.Fatalf("/join second: %q", ev.Text)
	}
	if ev := join(one, alice, "third"); ev.Kind != KindError || ev.Code != "too_many_rooms" {
		t.Fatalf("a fourth room in the cluster (with the lobby): %v %q", ev.Kind, ev.Text)
	}
	if ev := join(one, alice, "second"); ev.Kind != KindMembers || ev.Room != "second" {
		t.Fatalf("joining the other node's room: %+v", ev)
	}
}

// lockCheckingPresence is a Presence that notes whether the hub's lock
// was held when the other nodes' lists were asked for.
type lockCheckingPresence struct {
	listedPresence
	hub         *Hub
	underHubMu  atomic.Int64
	snapshotted atomic.Int64
}

func (p *lockCheckingPresence) Snapshot(room string) map[string][]SharedMember {
	p.snapshotted.Add(1)
	if p.hub.mu.TryLock() {
		p.hub.mu.Unlock()
	} else {
		p.underHubMu.Add(1)
	}
	return p.listedPresence.Snapshot(room)
}

// Creating a room in a cluster takes the other nodes' member lists of it
// (decoding them) without holding the hub's lock, which every session's
// commands wait for; the joiner's list shows them.
func TestRoomCreationReadsOtherNodesListsOutsideTheHubLock(t *testing.T) {
	p := &lockCheckingPresence{}
	p.list("garden", "two", "bob")
	h := newStoredHub(t, WithStore(store.NewMemory()), WithBus(fakeNode{newFakeBus()}), WithPresence(p))
	p.hub = h
	alice := connect(t, h, "alice", ViaWeb)
	drain(alice)
	h.Input(alice, "", "/join garden")
	if ev := nextKind(t, alice, KindMembers); ev.Room != "garden" || len(ev.Members) != 2 {
		t.Fatalf("alice's list of #garden: %+v", ev)
	}
	if p.snapshotted.Load() == 0 || p.underHubMu.Load() != 0 {
		t.Fatalf("%d of %d reads of the other nodes' lists held the hub's lock", p.underHubMu.Load(), p.snapshotted.Load())
	}
}

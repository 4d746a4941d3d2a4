package room

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/tertulia/tertulia/internal/store"

	"github.com/tertulia/tertulia/internal/access"
)

// checkOrder verifies a room's sorted member slice against its map and the
// sessions' current folded nicks.
func checkOrder(t *testing.T, r *Room) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.order) != len(r.people) || len(r.sessionsLocked()) != len(r.members) {
		t.Fatalf("#%s: %d in order, %d people, %d sessions, %d members", r.name, len(r.order), len(r.people), len(r.sessionsLocked()), len(r.members))
	}
	if !slices.IsSortedFunc(r.order, compareMember) {
		t.Fatalf("#%s: order not sorted", r.name)
	}
	for _, m := range r.order {
		if key, in := r.people[m.s.person]; !in || key != m.key {
			t.Fatalf("#%s: %s filed under %q, map has %q (%v)", r.name, m.s.Nick(), m.key, key, in)
		}
		for _, o := range append([]*Session{m.s}, m.more...) {
			if _, in := r.members[o]; !in || o.person != m.s.person {
				t.Fatalf("#%s: a session of %s is not a member", r.name, m.s.Nick())
			}
		}
		if m.key != access.Fold(m.s.Nick()) {
			t.Fatalf("#%s: %s filed under %q", r.name, m.s.Nick(), m.key)
		}
	}
}

func whoNicks(t *testing.T, h *Hub, s *Session) []string {
	t.Helper()
	for len(s.Events()) > 0 { // earlier events, e.g. the list at its join
		<-s.Events()
	}
	h.Input(s, "", "/who")
	ev := nextKind(t, s, KindMembers)
	var nicks []string
	for _, m := range ev.Members {
		nicks = append(nicks, m.Nick)
	}
	return nicks
}

func sortedByFold(nicks []string) []string {
	out := slices.Clone(nicks)
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(access.Fold(a), access.Fold(b)) })
	return out
}

// The member list is sorted by folded nick through joins, nick changes and
// parts, without sorting when it is asked for.
func TestMembersSortedByFoldedNick(t *testing.T) {
	h := newTestHub(t, WithQueueSize(1024))
	nicks := []string{"zoe", "Alice", "bob", "Ｂob2", "carol", "ALBERT", "dave", "Émile", "l1nus", "Mallory"}
	var ss []*Session
	for _, n := range nicks {
		ss = append(ss, connect(t, h, n, ViaWeb))
	}
	obs := ss[0]
	var current []string
	for _, s := range ss {
		current = append(current, s.Nick())
	}
	if got, want := whoNicks(t, h, obs), sortedByFold(current); !slices.Equal(got, want) {
		t.Fatalf("/who = %v, want %v", got, want)
	}
	h.Input(ss[1], "", "/nick yann")
	h.Input(ss[5], "", "/nick aaron")
	h.Input(ss[3], "", "/part")
	h.Input(ss[7], "", "/join #other")
	h.Input(ss[7], "", "/join #lobby")
	current = current[:0]
	for i, s := range ss {
		if i != 3 {
			current = append(current, s.Nick())
		}
	}
	if got, want := whoNicks(t, h, obs), sortedByFold(current); !slices.Equal(got, want) {
		t.Fatalf("/who after changes = %v, want %v", got, want)
	}
	for _, r := range []string{"lobby", "other"} {
		room, _ := h.roomByName(r, false)
		checkOrder(t, room)
	}
}

// Joins, parts, nick changes and disconnections from many goroutines keep
// every room's order consistent (and race-free under -race).
func TestMembersOrderUnderConcurrency(t *testing.T) {
	h := newTestHub(t, WithQueueSize(1<<16))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			s, err := h.Connect(Identity{Nick: fmt.Sprintf("g%d", g), Via: ViaWeb})
			if err != nil {
				t.Error(err)
				return
			}
			for i := range 200 {
				switch rng.IntN(5) {
				case 0:
					h.Input(s, "", fmt.Sprintf("/join #r%d", rng.IntN(3)))
				case 1:
					h.Input(s, "", "/part")
				case 2:
					h.Input(s, "", fmt.Sprintf("/nick n%d_%d", g, i))
				case 3:
					h.Input(s, "", "/who")
				case 4:
					s.Leave()
					if s, err = h.Connect(Identity{Nick: fmt.Sprintf("g%d", g), Via: ViaWeb}); err != nil {
						t.Error(err)
						return
					}
				}
			}
			if g%2 == 0 {
				s.Leave()
			}
		})
	}
	wg.Wait()
	h.mu.Lock()
	rooms := make([]*Room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	for _, r := range rooms {
		checkOrder(t, r)
	}
}

// failingQueue is a group-committing store that fails messages saying
// "fail", as a full disk would.
type failingQueue struct{ *store.SQLite }

func (f failingQueue) QueueMessage(m *store.Message) func(context.Context) error {
	if m.Text == "fail" {
		return func(context.Context) error { return errors.New("disk I/O error") }
	}
	return f.SQLite.QueueMessage(m)
}

// With a group-committing store, concurrent senders of one room are
// published in store order to everyone, and a message that is not stored
// is reported to its sender only, without holding up the others.
func TestQueuedStoreOrderAndFailure(t *testing.T) {
	st := openTestStore(t)
	h := newStoredHub(t, WithStore(failingQueue{st}), WithQueueSize(4096), WithHistory(1000))
	const senders, per = 6, 50
	var ss []*Session
	for i := range senders {
		ss = append(ss, connect(t, h, fmt.Sprint("u", i), ViaWeb))
	}
	watcher := connect(t, h, "watcher", ViaWeb)
	for _, s := range append(ss, watcher) {
		nextKind(t, s, KindHistory)
	}
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() {
			for n := range per {
				text := fmt.Sprintf("%d-%d", i, n)
				if i == 0 && n == per/2 {
					text = "fail"
				}
				h.Input(s, "", text)
			}
		})
	}
	wg.Wait()
	var last uint64
	seen := map[int]int{}
	for range senders*per - 1 {
		ev := nextKind(t, watcher, KindMessage)
		if ev.Text == "fail" {
			t.Fatal("the failed message was shown")
		}
		if ev.ID <= last {
			t.Fatalf("id %d after %d", ev.ID, last)
		}
		last = ev.ID
		var i, n int
		fmt.Sscanf(ev.Text, "%d-%d", &i, &n)
		if n < seen[i] {
			t.Fatalf("%s after %d-%d", ev.Text, i, seen[i])
		}
		seen[i] = n
	}
	for {
		ev := next(t, ss[0])
		if ev.Kind == KindError {
			if ev.Code != "store_failed" {
				t.Fatalf("sender got %+v", ev)
			}
			break
		}
	}
	msgs, err := st.History(context.Background(), "lobby", 0, 1000)
	if err != nil || len(msgs) != senders*per-1 || uint64(msgs[len(msgs)-1].ID) != last {
		t.Fatalf("stored %d, last %v, %v", len(msgs), msgs[len(msgs)-1].ID, err)
	}
}

// The member list follows away messages and registrations, which change
// outside the room: the room's copy is refreshed.
func TestMembersListFollowsAwayAndRegistration(t *testing.T) {
	st := openTestStore(t)
	h := newStoredHub(t, WithStore(st), WithQueueSize(1024))
	a, err := h.Connect(Identity{Nick: "alice", Via: ViaSSH, Fingerprint: "SHA256:alicekey"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Leave)
	b := connect(t, h, "bob", ViaWeb)
	h.Input(b, "", "/join #side")
	h.Input(a, "", "/join #side")
	alice := func(room string) Member {
		t.Helper()
		for len(b.Events()) > 0 {
			<-b.Events()
		}
		h.Input(b, "", "/names #"+room)
		for _, m := range nextKind(t, b, KindMembers).Members {
			if m.Via == ViaSSH {
				return m
			}
		}
		t.Fatal("alice is not listed")
		return Member{}
	}
	check := func(step string, want Member) {
		t.Helper()
		for _, room := range []string{"lobby", "side"} {
			if got := alice(room); got != want {
				t.Fatalf("%s: #%s lists %+v, want %+v", step, room, got, want)
			}
		}
	}
	check("connected", Member{Nick: "alice", Via: ViaSSH})
	h.Input(a, "", "/register")
	check("registered", Member{Nick: "alice", Via: ViaSSH, Registered: true})
	h.Input(a, "", "/away lunch")
	check("away", Member{Nick: "alice", Via: ViaSSH, Away: "lunch", Registered: true})
	h.Input(a, "", "/nick Zed")
	check("renamed", Member{Nick: "Zed", Via: ViaSSH, Away: "lunch"})
	h.Input(a, "", "/back")
	h.Input(a, "", "/nick alice")
	check("back", Member{Nick: "alice", Via: ViaSSH, Registered: true})
	h.Input(a, "", "/unregister")
	check("unregistered", Member{Nick: "alice", Via: ViaSSH})
	for _, name := range []string{"lobby", "side"} {
		r, _ := h.roomByName(name, false)
		checkOrder(t, r)
	}
}

// An empty room's list is empty, not nil (front-ends encode it as []).
func TestEmptyRoomListsNoMembers(t *testing.T) {
	h := newTestHub(t)
	a := connect(t, h, "alice", ViaWeb)
	h.Input(a, "", "/join #empty")
	h.Input(a, "", "/part #empty")
	for len(a.Events()) > 0 {
		<-a.Events()
	}
	h.Input(a, "", "/names #empty")
	if ev := nextKind(t, a, KindMembers); ev.Members == nil || len(ev.Members) != 0 || ev.Count != 0 {
		t.Fatalf("empty room lists %#v", ev.Members)
	}
}

// Going away and coming back is announced in each of the member's rooms,
// in the order it joined them, so member lists follow it live; a member
// already away when it joins a room is announced there as away too.
func TestAwayIsAnnouncedInEveryRoom(t *testing.T) {
	h := newTestHub(t)
	a := connect(t, h, "alice", ViaSSH)
	b := connect(t, h, "bob", ViaWeb)
	h.Input(a, "", "/join #side")
	h.Input(b, "", "/join #side")
	drain := func(s *Session) {
		for len(s.Events()) > 0 {
			<-s.Events()
		}
	}
	drain(b)
	awayEvents := func(step string, want ...string) {
		t.Helper()
		var got []string
		for len(b.Events()) > 0 {
			if ev := <-b.Events(); ev.Kind == KindAway {
				got = append(got, ev.Room+" "+ev.From+" "+ev.Text)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: bob got away events %q, want %q", step, got, want)
		}
	}
	h.Input(a, "", "/away making coffee")
	awayEvents("away", "lobby alice making coffee", "side alice making coffee")
	h.Input(a, "", "/away")
	awayEvents("another reason", "lobby alice away", "side alice away")
	h.Input(a, "", "/away")
	awayEvents("the same reason again")
	h.Input(a, "", "/join #third")
	h.Input(b, "", "/join #third")
	drain(b)
	h.Input(a, "", "/part #third")
	h.Input(a, "", "/join #third")
	awayEvents("joined while away", "third alice away")
	h.Input(a, "", "/back")
	awayEvents("back", "lobby alice ", "side alice ", "third alice ")
	h.Input(b, "", "/away brb")
	if ev := nextKind(t, b, KindAway); ev.From != "bob" || ev.Text != "brb" {
		t.Errorf("bob's own away event: %+v", ev)
	}
}

package room

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

func storedRoomNames(t *testing.T, st store.Store) []string {
	t.Helper()
	rooms, err := st.Rooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rooms {
		names = append(names, r.Name)
	}
	return names
}

func wantError(t *testing.T, err error, code string) {
	t.Helper()
	ue, ok := err.(*UserError)
	if !ok || ue.Code != code {
		t.Errorf("err = %v, want code %s", err, code) // also called from goroutines
	}
}

// Concurrent /join of new rooms never takes the room
// count past --max-rooms, in memory or in the store.
func TestRoomCapIsNeverOvershot(t *testing.T) {
	const maxRooms, sessions, joinsEach = 30, 20, 10
	st := openTestStore(t)
	h := newStoredHub(t, WithStore(st), WithMaxRooms(maxRooms), WithRoomCreation(0, 0))
	var all []*Session
	for i := range sessions {
		all = append(all, connect(t, h, fmt.Sprint("u", i), ViaWeb))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	start := make(chan struct{})
	for i, s := range all {
		wg.Go(func() {
			<-start
			for j := range joinsEach {
				if err := h.join(s, fmt.Sprintf("r%d_%d", i, j)); err != nil {
					wantError(t, err, "too_many_rooms")
					mu.Lock()
					refused++
					mu.Unlock()
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if n := h.RoomCount(); n != maxRooms {
		t.Fatalf("%d rooms, want exactly the cap %d", n, maxRooms)
	}
	if n := len(storedRoomNames(t, st)); n != maxRooms {
		t.Fatalf("%d rooms stored, want %d", n, maxRooms)
	}
	if refused != sessions*joinsEach-(maxRooms-1) {
		t.Fatalf("%d joins refused, want %d", refused, sessions*joinsEach-(maxRooms-1))
	}
}

// Room creation is paced per session and per address;
// joining existing rooms is not.
func TestRoomCreationIsPaced(t *testing.T) {
	clock := newTestClock()
	h := newTestHub(t, WithClock(clock.Now), WithRoomCreation(3, time.Minute))
	con := func(nick, addr string) *Session {
		s, err := h.Connect(Identity{Nick: nick, Via: ViaWeb, Remote: addr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Leave)
		return s
	}
	a := con("a", "127.0.0.9")
	for i := range 3 {
		if err := h.join(a, fmt.Sprint("a", i)); err != nil {
			t.Fatalf("room %d: %v", i, err)
		}
	}
	wantError(t, h.join(a, "a3"), "rate_limited")
	if err := h.join(a, "a0"); err != nil {
		t.Fatalf("joining an existing room: %v", err)
	}
	// Another connection from the same address shares its budget.
	b := con("b", "127.0.0.9")
	wantError(t, h.join(b, "b0"), "rate_limited")
	// An IPv6 address counts as its /64.
	v6 := con("v6", "2001:db8::1")
	for i := range 3 {
		if err := h.join(v6, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	wantError(t, h.join(con("v6b", "2001:db8::2"), "w0"), "rate_limited")
	// Another address has its own; a session without one its own only.
	if err := h.join(con("c", "127.0.0.10"), "c0"); err != nil {
		t.Fatal(err)
	}
	// One more a minute later.
	clock.Advance(time.Minute)
	if err := h.join(a, "a3"); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
	wantError(t, h.join(b, "b0"), "rate_limited")
}

// Rooms that hold nothing are reclaimed once empty for
// the reclaim delay, from memory and the store; rooms with messages, a
// topic or +t, occupied rooms and the lobby are kept. At the cap, unused
// rooms make way for new ones.
func TestUnusedRoomsAreReclaimed(t *testing.T) {
	clock := newTestClock()
	st := openTestStore(t)
	h := newStoredHub(t, WithStore(st), WithClock(clock.Now), WithRoomReclaim(10*time.Minute), WithMaxRooms(6))
	a := connect(t, h, "a", ViaWeb)
	for _, name := range []string{"idle", "talk", "topic", "occupied"} {
		if err := h.join(a, name); err != nil {
			t.Fatal(err)
		}
	}
	h.Input(a, "talk", "kept")
	h.Input(a, "topic", "/topic kept")
	for _, name := range []string{"idle", "talk", "topic"} {
		h.Input(a, name, "/part")
	}
	b := connect(t, h, "b", ViaWeb)
	if err := h.join(b, "occupied"); err != nil {
		t.Fatal(err)
	}
	h.Input(a, "occupied", "/part")

	clock.Advance(9 * time.Minute)
	if n := h.ReclaimRooms(); n != 0 {
		t.Fatalf("%d rooms reclaimed after 9 minutes", n)
	}
	clock.Advance(2 * time.Minute)
	if n := h.ReclaimRooms(); n != 1 {
		t.Fatalf("%d rooms reclaimed, want 1 (#idle)", n)
	}
	want := []string{"lobby", "occupied", "talk", "topic"}
	if got := storedRoomNames(t, st); !slices.Equal(got, want) {
		t.Fatalf("stored rooms %v, want %v", got, want)
	}

	// At the cap (6: four rooms and two new), a new room takes the place
	// of an unused one.
	for _, name := range []string{"n1", "n2"} {
		if err := h.join(a, name); err != nil {
			t.Fatal(err)
		}
		h.Input(a, name, "/part")
	}
	wantError(t, h.join(a, "n3"), "too_many_rooms")
	clock.Advance(11 * time.Minute)
	if err := h.join(a, "n3"); err != nil {
		t.Fatalf("at the cap with unused rooms: %v", err)
	}
	if h.RoomCount() != 5 {
		t.Fatalf("%d rooms, want 5 (n1 and n2 reclaimed, n3 made)", h.RoomCount())
	}
}

// After a restart, rooms that hold nothing are gone, so a
// server whose room cap was used up can create rooms again.
func TestRestartAfterExhaustionCreatesRooms(t *testing.T) {
	dir := t.TempDir()
	open := func() *store.SQLite {
		st, err := store.OpenSQLite(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	h := newStoredHub(t, WithStore(st), WithMaxRooms(5))
	a := connect(t, h, "a", ViaWeb)
	for i := range 3 {
		if err := h.join(a, fmt.Sprint("junk", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.join(a, "kept"); err != nil {
		t.Fatal(err)
	}
	h.Input(a, "kept", "hello")
	wantError(t, h.join(a, "more"), "too_many_rooms")
	a.Leave()
	st.Close()

	st = open()
	defer st.Close()
	h = newStoredHub(t, WithStore(st), WithMaxRooms(5))
	if want, got := []string{"kept", "lobby"}, storedRoomNames(t, st); !slices.Equal(got, want) {
		t.Fatalf("stored rooms after restart %v, want %v", got, want)
	}
	if err := h.join(connect(t, h, "b", ViaWeb), "more"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

// /rmroom removes a room and its history; its members are
// parted with the reason. Only operators may, and never the lobby.
func TestRemoveRoomByOperator(t *testing.T) {
	st := openTestStore(t)
	h := newStoredHub(t, WithStore(st), WithAdmins("SHA256:boss"))
	boss, err := h.Connect(Identity{Nick: "boss", Via: ViaSSH, Fingerprint: "SHA256:boss"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(boss.Leave)
	joe := connect(t, h, "joe", ViaWeb)
	if err := h.join(joe, "dev"); err != nil {
		t.Fatal(err)
	}
	h.Input(joe, "dev", "old news")
	nextKind(t, joe, KindMessage)

	h.Input(joe, "", "/rmroom #dev")
	if ev := nextKind(t, joe, KindError); ev.Code != "not_operator" {
		t.Fatalf("non-operator: %+v", ev)
	}
	h.Input(boss, "", "/rmroom #lobby")
	if ev := nextKind(t, boss, KindError); ev.Code != "is_lobby" {
		t.Fatalf("lobby: %+v", ev)
	}
	h.Input(boss, "", "/rmroom #nosuch")
	if ev := nextKind(t, boss, KindError); ev.Code != "no_such_room" {
		t.Fatalf("no such room: %+v", ev)
	}

	h.Input(boss, "", "/rmroom #dev spam")
	ev := nextKind(t, joe, KindPart)
	if ev.Room != "dev" || ev.From != "joe" || ev.Text != "room removed by boss: spam" {
		t.Fatalf("joe's part: %+v", ev)
	}
	if n := nextKind(t, boss, KindNotice); n.Text != "#dev removed with its history (1 members parted)" {
		t.Fatalf("boss told %q", n.Text)
	}
	if got := joe.Rooms(); !slices.Equal(got, []string{"lobby"}) || joe.CurrentRoom() != "lobby" {
		t.Fatalf("joe in %v, current %q", got, joe.CurrentRoom())
	}
	if got := storedRoomNames(t, st); !slices.Equal(got, []string{"lobby"}) {
		t.Fatalf("stored rooms %v", got)
	}
	if msgs, err := st.History(context.Background(), "dev", 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("history of a removed room: %v %v", msgs, err)
	}
	h.Input(joe, "dev", "into the void")
	if ev := nextKind(t, joe, KindError); ev.Code != "not_in_room" {
		t.Fatalf("say to a removed room: %+v", ev)
	}
	// The name is free again, with no history.
	if err := h.join(joe, "dev"); err != nil {
		t.Fatal(err)
	}
	if ev := nextKind(t, joe, KindHistory); ev.Room != "dev" || len(ev.History) != 0 {
		t.Fatalf("new #dev history: %+v", ev)
	}
}

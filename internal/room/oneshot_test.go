package room

import (
	"strings"
	"testing"
	"time"
)

func connectOneShot(t testing.TB, h *Hub, id Identity) *Session {
	t.Helper()
	id.Via, id.AltNick, id.OneShot = ViaSSH, true, true
	s, err := h.Connect(id)
	if err != nil {
		t.Fatalf("connect %s: %v", id.Nick, err)
	}
	t.Cleanup(s.Leave)
	return s
}

// queued takes what is queued for s without waiting.
func queued(s *Session) []*Event {
	var evs []*Event
	for {
		select {
		case ev := <-s.Events():
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

// A one-shot session posts in a room it never joins: the members get the
// message and nothing else (no join, part or member list change), and the
// one-shot itself gets nothing it did not ask for.
func TestOneShotSaysUnseen(t *testing.T) {
	h := newTestHub(t, WithMOTD("welcome all"))
	alice := connect(t, h, "alice", ViaWeb)
	nextKind(t, alice, KindHistory)
	queued(alice)

	shot := connectOneShot(t, h, Identity{Nick: "bot"})
	if evs := queued(shot); len(evs) != 0 {
		t.Fatalf("one-shot got %d events at connect (first %v), want none", len(evs), evs[0].Kind)
	}
	h.Input(shot, "#lobby", "hello")
	if evs := queued(shot); len(evs) != 0 {
		t.Fatalf("one-shot got %v after saying, want nothing", evs[0])
	}
	ev := next(t, alice)
	if ev.Kind != KindMessage || ev.From != "bot" || ev.Text != "hello" {
		t.Fatalf("alice got %+v, want bot's message", ev)
	}
	h.Input(alice, "", "/who")
	if m := nextKind(t, alice, KindMembers); len(m.Members) != 1 {
		t.Fatalf("members %+v, want alice alone", m.Members)
	}
	shot.Leave()
	h.Input(alice, "", "after")
	if ev := next(t, alice); ev.Kind != KindMessage || ev.Text != "after" {
		t.Fatalf("alice got %v after the one-shot left, want her own message only", ev.Kind)
	}
}

// A one-shot names a room that does not exist: it is refused, and no room
// is made.
func TestOneShotNoSuchRoom(t *testing.T) {
	h := newTestHub(t)
	shot := connectOneShot(t, h, Identity{Nick: "bot"})
	h.Input(shot, "#nowhere", "hi")
	evs := queued(shot)
	if len(evs) != 1 || evs[0].Kind != KindError || evs[0].Code != "no_such_room" {
		t.Fatalf("got %+v, want one no_such_room error", evs)
	}
	if h.RoomCount() != 1 {
		t.Fatalf("%d rooms, want the lobby only", h.RoomCount())
	}
	if _, err := h.Watch(shot, "#nowhere"); errorCode(err) != "no_such_room" {
		t.Fatalf("watch: %v, want no_such_room", err)
	}
}

// A watching one-shot receives the room's messages from the watch on,
// unlisted, and stops when it leaves.
func TestOneShotWatch(t *testing.T) {
	h := newTestHub(t)
	alice := connect(t, h, "alice", ViaWeb)
	h.Input(alice, "", "before")
	nextKind(t, alice, KindMessage)
	shot := connectOneShot(t, h, Identity{Nick: "tail"})
	last, err := h.Watch(shot, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	if last == 0 {
		t.Fatal("watch: last ID 0, want the message before")
	}
	h.Input(alice, "", "during")
	if ev := next(t, shot); ev.Kind != KindMessage || ev.Text != "during" || ev.ID <= last {
		t.Fatalf("watcher got %+v, want the new message", ev)
	}
	h.Input(alice, "", "/who")
	if m := nextKind(t, alice, KindMembers); len(m.Members) != 1 {
		t.Fatalf("members %+v, want alice alone", m.Members)
	}
	shot.Leave()
	lobby := h.lobbyRoom()
	lobby.mu.Lock()
	n := len(lobby.watchers)
	lobby.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d watchers after leaving, want 0", n)
	}
}

// One-shot sessions of one identity share an input budget: connecting
// again does not buy a fresh one; InputWait says how long to wait.
func TestOneShotsShareTheRate(t *testing.T) {
	now := time.Unix(1e9, 0)
	h := newTestHub(t, WithRate(1, 0.5), WithClock(func() time.Time { return now }))
	first := connectOneShot(t, h, Identity{Nick: "bot", Fingerprint: "SHA256:k", Remote: "192.0.2.1"})
	h.Input(first, "#lobby", "one")
	if evs := queued(first); len(evs) != 0 {
		t.Fatalf("first: %+v, want it stored", evs[0])
	}
	first.Leave()
	second := connectOneShot(t, h, Identity{Nick: "bot", Fingerprint: "SHA256:k", Remote: "192.0.2.1"})
	if w := second.InputWait(); w != 2*time.Second {
		t.Fatalf("input wait %v, want 2s", w)
	}
	// Every refusal is answered, not only the first of a row.
	for range 3 {
		h.Input(second, "#lobby", "two")
		if evs := queued(second); len(evs) != 1 || evs[0].Code != "rate_limited" {
			t.Fatalf("second: %+v, want rate_limited", evs)
		}
	}
	// Another key has its own budget.
	other := connectOneShot(t, h, Identity{Nick: "bot2", Fingerprint: "SHA256:other", Remote: "192.0.2.1"})
	h.Input(other, "#lobby", "three")
	if evs := queued(other); len(evs) != 0 {
		t.Fatalf("other key: %+v, want it stored", evs[0])
	}
}

// A registered key connecting while one of its one-shots runs gets its
// rooms back as if it were the key's first session.
func TestOneShotLeavesTheKeysRoomsToItsNextSession(t *testing.T) {
	h := newTestHub(t)
	first, err := h.Connect(Identity{Nick: "kim", Via: ViaSSH, Fingerprint: "SHA256:kim", AltNick: true})
	if err != nil {
		t.Fatal(err)
	}
	h.Input(first, "", "/register")
	h.Input(first, "", "/join #dev")
	nextKind(t, first, KindHistory) // of #dev
	first.Leave()

	shot := connectOneShot(t, h, Identity{Nick: "kim", Fingerprint: "SHA256:kim"})
	if shot.Nick() != "kim" {
		t.Fatalf("one-shot nick %q, want kim", shot.Nick())
	}
	again, err := h.Connect(Identity{Nick: "kim", Via: ViaSSH, Fingerprint: "SHA256:kim", AltNick: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(again.Leave)
	if again.Nick() != "kim" {
		t.Fatalf("nick %q, want kim", again.Nick())
	}
	if rooms := strings.Join(again.Rooms(), ","); !strings.Contains(rooms, "dev") {
		t.Fatalf("rooms %q, want #dev back", rooms)
	}
}

// A room someone follows with tail -f is not reclaimed as unused while it
// is followed, and is once the follower has gone.
func TestWatchedRoomIsNotReclaimed(t *testing.T) {
	now := time.Unix(1e9, 0)
	h := newTestHub(t, WithRoomReclaim(time.Minute), WithClock(func() time.Time { return now }))
	alice := connect(t, h, "alice", ViaSSH)
	h.Input(alice, "", "/join #dev")
	h.Input(alice, "", "/part #dev")
	shot := connectOneShot(t, h, Identity{Nick: "tail"})
	if _, err := h.Watch(shot, "#dev"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if n := h.ReclaimRooms(); n != 0 {
		t.Fatalf("reclaimed %d rooms while #dev is watched", n)
	}
	shot.Leave()
	if n := h.ReclaimRooms(); n != 1 {
		t.Fatalf("reclaimed %d rooms once nobody watches, want #dev", n)
	}
}

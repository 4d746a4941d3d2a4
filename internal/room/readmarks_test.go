package room

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/store"
)

const readerKey = "SHA256:alice-read"

// sayID has s say text in its current room and returns the message's id.
func sayID(t *testing.T, h *Hub, s *Session, text string) uint64 {
	t.Helper()
	h.Input(s, "", text)
	for {
		if ev := nextKind(t, s, KindMessage); ev.Text == text {
			return ev.ID
		}
	}
}

// readsOf is the read events s has queued so far.
func readsOf(s *Session) []string {
	var out []string
	for _, ev := range drain(s) {
		if ev.Kind == KindRead {
			out = append(out, fmt.Sprintf("%s%s:%d", ev.Room, ev.To, ev.ID))
		}
	}
	return out
}

// countingStore is a memory store that counts its read marker writes and
// hands each one over.
type countingStore struct {
	*store.Memory
	mu      sync.Mutex
	writes  int
	written chan []store.ReadMarker
}

func newCountingStore(t *testing.T) *countingStore {
	t.Helper()
	mem := store.NewMemory()
	if err := mem.EnsureRoom(context.Background(), store.Room{Name: DefaultLobby, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return &countingStore{Memory: mem, written: make(chan []store.ReadMarker, 100)}
}

func (c *countingStore) AdvanceReadMarkers(ctx context.Context, markers []store.ReadMarker) error {
	err := c.Memory.AdvanceReadMarkers(ctx, markers)
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	c.written <- markers
	return err
}

func (c *countingStore) writeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// shutdown stops h, which writes the read markers left to write.
func shutdown(t *testing.T, h *Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// A marker moved by one session of a key reaches the key's other sessions
// at once, and nobody else; it never moves back, and an id past the
// room's newest message counts as the newest.
func TestReadMarkerFollowsTheKey(t *testing.T) {
	h := newTestHub(t)
	phone := connectKey(t, h, "alice", readerKey, ViaWeb)
	laptop := connectKey(t, h, "alice", readerKey, ViaSSH)
	bob := connectKey(t, h, "bob", "SHA256:bob-read", ViaSSH)
	first := sayID(t, h, bob, "one")
	second := sayID(t, h, bob, "two")
	third := sayID(t, h, bob, "three")
	drain(phone)
	drain(laptop)
	drain(bob)

	h.MarkRead(phone, "lobby", "", second)
	if got := readsOf(laptop); fmt.Sprint(got) != fmt.Sprintf("[lobby:%d]", second) {
		t.Fatalf("the key's other session got %v, want the marker at %d", got, second)
	}
	if got := readsOf(phone); len(got) != 0 {
		t.Errorf("the session that read was sent %v, want nothing", got)
	}
	if got := readsOf(bob); len(got) != 0 {
		t.Errorf("another key's session was sent %v", got)
	}

	h.MarkRead(laptop, "#lobby", "", first)
	if got := readsOf(phone); len(got) != 0 {
		t.Errorf("an older id moved the marker back: %v", got)
	}
	h.MarkRead(laptop, "", "", third+1000)
	if got := readsOf(phone); fmt.Sprint(got) != fmt.Sprintf("[lobby:%d]", third) {
		t.Errorf("an id past the newest: %v, want the marker at the newest, %d", got, third)
	}
}

// A guest's marks are not kept: its read is ignored, answered by nothing,
// and /read needs a key.
func TestGuestReadIsIgnored(t *testing.T) {
	h := newTestHub(t)
	guest := connect(t, h, "guest", ViaWeb)
	id := sayID(t, h, guest, "hello")
	drain(guest)
	h.MarkRead(guest, "lobby", "", id)
	if evs := drain(guest); len(evs) != 0 {
		t.Fatalf("a guest's read was answered: %v", kinds(evs))
	}
	wantAnswer(t, answerTo(t, h, guest, "/read"), "needs_key", "")
}

// A read of a room the session is not in is refused.
func TestReadOfAnotherRoomRefused(t *testing.T) {
	h := newTestHub(t)
	alice := connectKey(t, h, "alice", readerKey, ViaWeb)
	drain(alice)
	h.MarkRead(alice, "elsewhere", "", 1)
	if ev := next(t, alice); ev.Kind != KindError || ev.Code != "not_in_room" {
		t.Fatalf("got %v %q, want not_in_room", ev.Kind, ev.Code)
	}
}

// A new session of the key is told its marker of each room it joins,
// right after the room's history, even after a restart of the server.
func TestNewSessionStartsWithTheStoredMarker(t *testing.T) {
	st := newCountingStore(t)
	h := newTestHub(t, WithStore(st))
	alice := connectKey(t, h, "alice", readerKey, ViaWeb)
	id := sayID(t, h, alice, "hello")
	h.MarkRead(alice, "lobby", "", id)
	shutdown(t, h)

	again := newTestHub(t, WithStore(st))
	if err := again.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh := connectKey(t, again, "alice", readerKey, ViaSSH)
	nextKind(t, fresh, KindHistory)
	if ev := next(t, fresh); ev.Kind != KindRead || ev.Room != "lobby" || ev.ID != id {
		t.Fatalf("after the history: %v %q %d, want the marker at %d", ev.Kind, ev.Room, ev.ID, id)
	}
}

// Reads are written coalesced: however many, of however many keys,
// nothing is written within the flush interval, not even when a key's
// sessions all leave (one connecting then still gets its marker); shutting
// down writes the newest of each in one write.
func TestReadMarkersWriteCoalesced(t *testing.T) {
	st := newCountingStore(t)
	h := newTestHub(t, WithStore(st), WithReadFlush(time.Hour))
	alice := connectKey(t, h, "alice", readerKey, ViaWeb)
	other := connectKey(t, h, "alice", readerKey, ViaSSH)
	bob := connectKey(t, h, "bob", "SHA256:bob-read", ViaSSH)
	var last uint64
	for i := range 50 {
		last = sayID(t, h, alice, fmt.Sprint("line ", i))
		h.MarkRead(alice, "lobby", "", last)
		h.MarkRead(bob, "lobby", "", last)
	}
	alice.Leave()
	other.Leave()
	if n := st.writeCount(); n != 0 {
		t.Fatalf("%d writes for 100 reads within the interval, want none yet", n)
	}
	back := connectKey(t, h, "alice", readerKey, ViaWeb)
	nextKind(t, back, KindHistory)
	if ev := next(t, back); ev.Kind != KindRead || ev.ID != last {
		t.Fatalf("a session of the key back before the write: %v %d, want its marker at %d", ev.Kind, ev.ID, last)
	}
	shutdown(t, h)
	if n := st.writeCount(); n != 1 {
		t.Fatalf("%d writes on shutdown, want 1", n)
	}
	for _, key := range []string{readerKey, "SHA256:bob-read"} {
		stored, err := st.ReadMarkers(context.Background(), key)
		if err != nil || stored["#lobby"] != int64(last) {
			t.Fatalf("stored for %s: %v, %v; want #lobby at %d", key, stored, err, last)
		}
	}
}

// While the key stays connected, its advanced markers are written after
// the flush interval.
func TestReadMarkersWrittenAfterTheInterval(t *testing.T) {
	st := newCountingStore(t)
	h := newTestHub(t, WithStore(st), WithReadFlush(time.Millisecond))
	alice := connectKey(t, h, "alice", readerKey, ViaWeb)
	id := sayID(t, h, alice, "hello")
	h.MarkRead(alice, "lobby", "", id)
	select {
	case got := <-st.written:
		if fmt.Sprint(got) != fmt.Sprintf("[{%s #lobby %d}]", readerKey, id) {
			t.Fatalf("written %v, want alice's #lobby at %d", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the marker was not written while the key stayed connected")
	}
}

// A private conversation's marker follows the key too, named by the
// other's nick; without stored private messages it is not stored.
func TestPrivateReadMarker(t *testing.T) {
	st := newCountingStore(t)
	h := newTestHub(t, WithStore(st), WithReadFlush(0))
	phone := connectKey(t, h, "alice", readerKey, ViaWeb)
	laptop := connectKey(t, h, "alice", readerKey, ViaSSH)
	bob := connect(t, h, "bob", ViaSSH)
	h.Input(bob, "", "/msg "+phone.Nick()+" psst")
	pm := nextKind(t, phone, KindPrivate)
	drain(laptop)
	h.MarkRead(phone, "", "Bob", pm.ID)
	if got := readsOf(laptop); fmt.Sprint(got) != fmt.Sprintf("[Bob:%d]", pm.ID) {
		t.Fatalf("the other session got %v, want the conversation with Bob at %d", got, pm.ID)
	}
	shutdown(t, h)
	if n := st.writeCount(); n != 0 {
		t.Fatalf("%d writes of a private marker while private messages are not stored", n)
	}
}

// /read marks the room read up to its newest message on every device,
// and says so.
func TestReadCommand(t *testing.T) {
	h := newTestHub(t)
	phone := connectKey(t, h, "alice", readerKey, ViaWeb)
	laptop := connectKey(t, h, "alice", readerKey, ViaSSH)
	if ev := answerTo(t, h, laptop, "/read"); ev.Kind != KindNotice || ev.Text != "#lobby has no messages yet." {
		t.Fatalf("/read of an empty room: %v %q", ev.Kind, ev.Text)
	}
	id := sayID(t, h, phone, "hello")
	drain(phone)
	if ev := answerTo(t, h, laptop, "/read #lobby"); ev.Kind != KindNotice {
		t.Fatalf("/read: %v %q", ev.Kind, ev.Text)
	}
	if got := readsOf(phone); fmt.Sprint(got) != fmt.Sprintf("[lobby:%d]", id) {
		t.Fatalf("the other device got %v, want the marker at %d", got, id)
	}
	if ev := answerTo(t, h, laptop, "/read"); ev.Text != "#lobby was already read." {
		t.Fatalf("/read again: %q", ev.Text)
	}
	wantAnswer(t, answerTo(t, h, laptop, "/read #nowhere"), "not_in_room", "")
}

// With private messages stored, a private conversation's marker is stored
// too, under the other's folded nick.
func TestPrivateReadMarkerStoredWithPrivateMessages(t *testing.T) {
	st := newCountingStore(t)
	h := newTestHub(t, WithStore(st), WithStorePrivate(true))
	alice := connectKey(t, h, "alice", readerKey, ViaWeb)
	bob := connect(t, h, "Bob", ViaSSH)
	h.Input(bob, "", "/msg alice psst")
	pm := nextKind(t, alice, KindPrivate)
	h.MarkRead(alice, "", "Bob", pm.ID)
	shutdown(t, h)
	stored, err := st.ReadMarkers(context.Background(), readerKey)
	if err != nil || stored["@bob"] != int64(pm.ID) {
		t.Fatalf("stored %v, %v; want @bob at %d", stored, err, pm.ID)
	}
}

// failingReads is a memory store whose read marker writes fail until
// healed.
type failingReads struct {
	*countingStore
	failing atomic.Bool
}

func (f *failingReads) AdvanceReadMarkers(ctx context.Context, markers []store.ReadMarker) error {
	if f.failing.Load() {
		f.written <- nil
		return errors.New("disk I/O error")
	}
	return f.countingStore.AdvanceReadMarkers(ctx, markers)
}

// A failed write keeps the markers, and a later one writes them.
func TestReadMarkersKeptWhenAWriteFails(t *testing.T) {
	st := &failingReads{countingStore: newCountingStore(t)}
	st.failing.Store(true)
	h := newTestHub(t, WithStore(st), WithReadFlush(time.Millisecond))
	alice := connectKey(t, h, "alice", readerKey, ViaWeb)
	id := sayID(t, h, alice, "hello")
	h.MarkRead(alice, "lobby", "", id)
	select {
	case <-st.written:
	case <-time.After(5 * time.Second):
		t.Fatal("no write was tried")
	}
	st.failing.Store(false)
	for {
		select {
		case got := <-st.written:
			if got == nil {
				continue // another failed try before the store healed
			}
			if fmt.Sprint(got) != fmt.Sprintf("[{%s #lobby %d}]", readerKey, id) {
				t.Fatalf("written %v, want alice's #lobby at %d", got, id)
			}
			return
		case <-time.After(5 * time.Second):
			t.Fatal("the markers of the failed write were never written")
		}
	}
}

package room

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/clocktest"
	"github.com/tertulia/tertulia/internal/store"
)

func newFakeClock() *clocktest.Clock {
	return clocktest.New(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
}

// nextMessage skips to s's next message event.
func nextMessage(t testing.TB, s *Session) *Event { t.Helper(); return nextKind(t, s, KindMessage) }

func storedTexts(t testing.TB, h *Hub, room string) []string {
	t.Helper()
	msgs, err := h.store.History(context.Background(), room, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range msgs {
		texts = append(texts, m.Text)
	}
	return texts
}

func TestSayCIDIsEchoedToTheSenderOnly(t *testing.T) {
	h := newTestHub(t)
	alice := connect(t, h, "alice", ViaWeb)
	bob := connect(t, h, "bob", ViaWeb)

	h.InputWithCID(alice, "", "hello", "c1")
	mine, theirs := nextMessage(t, alice), nextMessage(t, bob)
	if mine.CID != "c1" || mine.Text != "hello" || mine.ID == 0 {
		t.Fatalf("the sender's copy is %+v, want hello with cid c1", mine)
	}
	if theirs.CID != "" || theirs.ID != mine.ID || theirs.Text != "hello" {
		t.Fatalf("another member got %+v, want the same message (id %d) without the cid", theirs, mine.ID)
	}
	// Joiners see the plain message in the recent history.
	carol := connect(t, h, "carol", ViaWeb)
	hist := nextKind(t, carol, KindHistory)
	if len(hist.History) != 1 || hist.History[0].CID != "" {
		t.Fatalf("a joiner's history holds %+v, want the message without its cid", hist.History)
	}
}

func TestSayRepeatedWithACIDIsStoredOnce(t *testing.T) {
	h := newTestHub(t)
	alice := connect(t, h, "alice", ViaWeb)
	bob := connect(t, h, "bob", ViaWeb)

	h.InputWithCID(alice, "", "only once", "c1")
	first := nextMessage(t, alice)
	h.InputWithCID(alice, "", "only once", "c1")
	again := nextMessage(t, alice)
	if again.ID != first.ID || again.CID != "c1" || again.Text != "only once" {
		t.Fatalf("the repeated say was answered with %+v, want the first message (id %d) again", again, first.ID)
	}
	h.Input(alice, "", "marker")
	nextMessage(t, alice)
	if ev := nextMessage(t, bob); ev.Text != "only once" {
		t.Fatalf("bob got %+v first", ev)
	}
	if ev := nextMessage(t, bob); ev.Text != "marker" {
		t.Fatalf("bob got %q after the first copy, want the marker: the repeat reached him", ev.Text)
	}
	if got := storedTexts(t, h, "lobby"); strings.Join(got, "|") != "only once|marker" {
		t.Fatalf("stored %q, want the message once", got)
	}
	// Another cid, or the same text without one, is a new message.
	h.InputWithCID(alice, "", "only once", "c2")
	if ev := nextMessage(t, alice); ev.ID == first.ID || ev.CID != "c2" {
		t.Fatalf("a new cid gave %+v", ev)
	}
}

func TestCIDIsForgottenAfterTenMinutes(t *testing.T) {
	clock := newFakeClock()
	h := newTestHub(t, WithClock(clock.Now))
	alice := connect(t, h, "alice", ViaWeb)

	h.InputWithCID(alice, "", "hi", "c1")
	first := nextMessage(t, alice)
	clock.Advance(cidTTL - time.Second)
	h.InputWithCID(alice, "", "hi", "c1")
	if ev := nextMessage(t, alice); ev.ID != first.ID {
		t.Fatalf("within ten minutes the repeat was stored again as %d", ev.ID)
	}
	clock.Advance(2 * time.Second)
	h.InputWithCID(alice, "", "hi", "c1")
	if ev := nextMessage(t, alice); ev.ID == first.ID {
		t.Fatal("after ten minutes the cid was still remembered")
	}
	if n, _ := h.cids.size(); n != 1 {
		t.Fatalf("%d cids remembered, want only the new one", n)
	}
}

// A key, or else a nick, is the same person across connections: a line
// resent after a reconnect is not stored twice.
func TestCIDBelongsToTheKeyElseTheNick(t *testing.T) {
	h := newTestHub(t)
	const key = "SHA256:alicekey"
	first, err := h.Connect(Identity{Nick: "alice", Via: ViaWeb, Fingerprint: key})
	if err != nil {
		t.Fatal(err)
	}
	h.InputWithCID(first, "", "sent before the drop", "c1")
	stored := nextMessage(t, first)
	first.Leave()
	again, err := h.Connect(Identity{Nick: "alice2", Via: ViaWeb, Fingerprint: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(again.Leave)
	h.InputWithCID(again, "", "sent before the drop", "c1")
	if ev := nextMessage(t, again); ev.ID != stored.ID || ev.CID != "c1" {
		t.Fatalf("the same key resending c1 got %+v, want message %d again", ev, stored.ID)
	}

	guest := connect(t, h, "Frank", ViaWeb)
	h.InputWithCID(guest, "", "a guest's line", "g1")
	guestLine := nextMessage(t, guest)
	guest.Leave()
	back := connect(t, h, "frank", ViaWeb)
	h.InputWithCID(back, "", "a guest's line", "g1")
	if ev := nextMessage(t, back); ev.ID != guestLine.ID {
		t.Fatalf("a guest back under the same nick resending g1 got %+v, want message %d again", ev, guestLine.ID)
	}
	other := connect(t, h, "someone", ViaWeb)
	h.InputWithCID(other, "", "another guest's line", "g1")
	if ev := nextMessage(t, other); ev.ID == guestLine.ID || ev.Text != "another guest's line" {
		t.Fatalf("another nick's g1 gave %+v", ev)
	}
	if got := storedTexts(t, h, "lobby"); strings.Join(got, "|") != "sent before the drop|a guest's line|another guest's line" {
		t.Fatalf("stored %q", got)
	}
}

func TestRefusedSayCarriesItsCIDAndMayBeSentAgain(t *testing.T) {
	h := newTestHub(t, WithMaxMessage(10))
	alice := connect(t, h, "alice", ViaWeb)

	h.InputWithCID(alice, "", strings.Repeat("x", 11), "long")
	if ev := nextKind(t, alice, KindError); ev.Code != "too_long" || ev.CID != "long" {
		t.Fatalf("a too long say was refused with %+v, want too_long carrying its cid", ev)
	}
	h.InputWithCID(alice, "", "/nosuch", "cmd")
	if ev := nextKind(t, alice, KindError); ev.Code != "unknown_command" || ev.CID != "cmd" {
		t.Fatalf("a refused command: %+v", ev)
	}
	// An error not caused by a tagged say has no cid.
	h.Input(alice, "", "/nosuch")
	if ev := nextKind(t, alice, KindError); ev.CID != "" {
		t.Fatalf("an untagged say's error carries cid %q", ev.CID)
	}
	// Nothing left once cleaned: still answered.
	h.InputWithCID(alice, "", "\u200e\x1b[2J", "blank")
	if ev := nextKind(t, alice, KindError); ev.Code != "empty" || ev.CID != "blank" {
		t.Fatalf("a say with nothing left once cleaned: %+v, want empty with its cid", ev)
	}
	h.InputWithCID(alice, "", strings.Repeat("y", 65), strings.Repeat("c", MaxCIDLen+1))
	if ev := nextKind(t, alice, KindError); ev.Code != "bad_cid" {
		t.Fatalf("a cid of %d characters: %+v, want bad_cid", MaxCIDLen+1, ev)
	}

	// A message refused by the store may be sent again with its cid.
	h2 := newTestHub(t, WithStore(&failingOnce{Memory: store.NewMemory()}))
	if err := h2.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	bob := connect(t, h2, "bob", ViaWeb)
	h2.InputWithCID(bob, "", "retry me", "r1")
	if ev := nextKind(t, bob, KindError); ev.Code != "store_failed" || ev.CID != "r1" {
		t.Fatalf("a store failure: %+v", ev)
	}
	h2.InputWithCID(bob, "", "retry me", "r1")
	if ev := nextMessage(t, bob); ev.Text != "retry me" || ev.CID != "r1" {
		t.Fatalf("the retry gave %+v", ev)
	}
}

// failingOnce is a memory store whose first queued message fails.
type failingOnce struct {
	*store.Memory
	mu     sync.Mutex
	failed bool
}

func (f *failingOnce) QueueMessage(m *store.Message) func(context.Context) error {
	f.mu.Lock()
	fail := !f.failed
	f.failed = true
	f.mu.Unlock()
	if fail {
		return func(context.Context) error { return fmt.Errorf("disk on fire") }
	}
	return f.Memory.QueueMessage(m)
}

// /me is a message too: its echo carries the cid, and it is stored once.
func TestActionWithCID(t *testing.T) {
	h := newTestHub(t)
	alice := connect(t, h, "alice", ViaWeb)
	h.InputWithCID(alice, "", "/me waves", "a1")
	first := nextMessage(t, alice)
	h.InputWithCID(alice, "", "/me waves", "a1")
	again := nextMessage(t, alice)
	if !first.Action || first.CID != "a1" || again.ID != first.ID {
		t.Fatalf("actions: %+v then %+v", first, again)
	}
}

func TestCIDTableIsBounded(t *testing.T) {
	tab := newCIDTable()
	now := newFakeClock().Now()
	settle := func(owner string, n int) {
		for i := range n {
			e, first := tab.claim(owner, sayTag{cid: fmt.Sprint(i)}, now)
			if !first {
				t.Fatalf("%s's cid %d claimed twice", owner, i)
			}
			tab.settle(e, &Event{ID: uint64(i + 1)})
		}
	}
	settle("heavy", cidsPerOwner+10)
	if n, _ := tab.size(); n != cidsPerOwner {
		t.Fatalf("%d cids for one owner, want at most %d", n, cidsPerOwner)
	}
	// The oldest went first.
	if _, first := tab.claim("heavy", sayTag{cid: "0"}, now); !first {
		t.Fatal("the oldest cid of an owner over its cap is still remembered")
	}
	for i := range cidsTotal/cidsPerOwner + 5 {
		settle(fmt.Sprint("owner", i), cidsPerOwner)
	}
	entries, _ := tab.size()
	if entries > cidsTotal || len(tab.queue) > cidsTotal {
		t.Fatalf("%d cids remembered (%d queued), want at most %d", entries, len(tab.queue), cidsTotal)
	}
	tab.mu.Lock()
	tab.expireLocked(now.Add(cidTTL))
	tab.mu.Unlock()
	if entries, owners := tab.size(); entries != 0 || owners != 0 || len(tab.queue) != 0 {
		t.Fatalf("after ten minutes %d cids of %d owners remain (%d queued)", entries, owners, len(tab.queue))
	}
}

func TestHistoryAfterAndMore(t *testing.T) {
	h := newTestHub(t)
	alice := connect(t, h, "alice", ViaWeb)
	var ids []uint64
	for i := range 5 {
		h.Input(alice, "", fmt.Sprint("m", i))
		ids = append(ids, nextMessage(t, alice).ID)
	}
	page := func(ev *Event) string {
		var texts []string
		for _, m := range ev.History {
			texts = append(texts, m.Text)
		}
		return fmt.Sprintf("%s more=%t", strings.Join(texts, ","), ev.More)
	}
	h.HistoryAfterRequest(alice, "lobby", ids[0], 2)
	ev := nextKind(t, alice, KindHistory)
	if got := page(ev); got != "m1,m2 more=true" || !ev.Forward || ev.After != ids[0] {
		t.Fatalf("after the first, 2: %s (%+v)", got, ev)
	}
	h.HistoryAfterRequest(alice, "lobby", ids[2], 2)
	if got := page(nextKind(t, alice, KindHistory)); got != "m3,m4 more=false" {
		t.Fatalf("after the third, 2: %s", got)
	}
	h.HistoryAfterRequest(alice, "lobby", 0, 0)
	if got := page(nextKind(t, alice, KindHistory)); got != "m0,m1,m2,m3,m4 more=false" {
		t.Fatalf("after 0: %s", got)
	}
	h.HistoryRequest(alice, "lobby", ids[4], 3)
	if got := page(nextKind(t, alice, KindHistory)); got != "m1,m2,m3 more=true" {
		t.Fatalf("before the last, 3: %s", got)
	}
	h.HistoryRequest(alice, "lobby", ids[3], 3)
	if got := page(nextKind(t, alice, KindHistory)); got != "m0,m1,m2 more=false" {
		t.Fatalf("before the fourth, 3: %s", got)
	}
	h.HistoryAfterRequest(alice, "dev", 0, 0)
	if ev := nextKind(t, alice, KindError); ev.Code != "not_in_room" {
		t.Fatalf("history after of a room not joined: %+v", ev)
	}
}

// gatedStore holds each queued message until the test lets it through,
// then stores it or, with fail, refuses it.
type gatedStore struct {
	*store.Memory
	queued chan struct{}
	gate   chan bool // true: store it; false: fail
}

func (g *gatedStore) QueueMessage(m *store.Message) func(context.Context) error {
	g.queued <- struct{}{}
	return func(ctx context.Context) error {
		if ok := <-g.gate; !ok {
			return fmt.Errorf("disk on fire")
		}
		return g.Memory.AppendMessage(ctx, m)
	}
}

// Two connections of one key sending the same cid at once (the old one,
// not yet dropped, delivering a stalled line as the new one resends it):
// the second waits for the first, and the line is stored once; if the
// first is refused, the second stores it.
func TestCIDSentTwiceAtOnceIsStoredOnce(t *testing.T) {
	for _, firstStored := range []bool{true, false} {
		t.Run(fmt.Sprint("first stored ", firstStored), func(t *testing.T) {
			st := &gatedStore{Memory: store.NewMemory(), queued: make(chan struct{}, 2), gate: make(chan bool, 2)}
			h := newTestHub(t, WithStore(st))
			if err := h.LoadRooms(context.Background()); err != nil {
				t.Fatal(err)
			}
			const key = "SHA256:gina"
			old, err := h.Connect(Identity{Nick: "gina", Via: ViaWeb, Fingerprint: key})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(old.Leave)
			fresh, err := h.Connect(Identity{Nick: "gina2", Via: ViaWeb, Fingerprint: key})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(fresh.Leave)

			go h.InputWithCID(old, "", "from the tunnel", "t1")
			<-st.queued // the first is being stored
			resent := make(chan struct{})
			go func() {
				defer close(resent)
				h.InputWithCID(fresh, "", "from the tunnel", "t1")
			}()
			st.gate <- firstStored
			if !firstStored {
				if ev := nextKind(t, old, KindError); ev.Code != "store_failed" || ev.CID != "t1" {
					t.Fatalf("the first try's answer: %+v", ev)
				}
				<-st.queued // the second try is stored
				st.gate <- true
			}
			<-resent
			// fresh, in the room too, may get the first try's message as
			// any member does, then its own copy, with the same id.
			echo := nextMessage(t, fresh)
			for echo.CID == "" && firstStored {
				echo = nextMessage(t, fresh)
			}
			if echo.CID != "t1" || echo.Text != "from the tunnel" {
				t.Fatalf("the resend's answer: %+v", echo)
			}
			if got := storedTexts(t, h, "lobby"); len(got) != 1 {
				t.Fatalf("stored %q, want the line once", got)
			}
			select {
			case <-st.queued:
				t.Fatal("the line was queued to the store a third time")
			default:
			}
		})
	}
}

// A say of several lines with a cid is one message, echoed with the cid
// and stored once when sent again; one of too many lines is refused with
// the cid, so its client keeps the text.
func TestMultiLineSayWithCID(t *testing.T) {
	h := newTestHub(t, WithMaxLines(3))
	alice := connect(t, h, "alice", ViaWeb)
	h.InputWithCID(alice, "", "one\ntwo", "m1")
	first := nextMessage(t, alice)
	if first.CID != "m1" || first.Text != "one\ntwo" {
		t.Fatalf("echo %+v", first)
	}
	h.InputWithCID(alice, "", "one\ntwo", "m1")
	if again := nextMessage(t, alice); again.ID != first.ID || again.CID != "m1" {
		t.Fatalf("resent: %+v, want the first copy again", again)
	}
	if got := storedTexts(t, h, "lobby"); strings.Join(got, "|") != "one\ntwo" {
		t.Fatalf("stored %q", got)
	}
	h.InputWithCID(alice, "", "1\n2\n3\n4", "m2")
	if ev := nextKind(t, alice, KindError); ev.Code != "too_many_lines" || ev.CID != "m2" {
		t.Fatalf("four lines: %+v", ev)
	}
}

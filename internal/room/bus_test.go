package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/store"
)

// fakeBus joins hubs sharing one store as one cluster would: what a hub
// publishes reaches every other hub's feed of the room at once, and a
// new feed catches up with what was published after its last entry.
type fakeBus struct {
	mu    sync.Mutex
	log   []store.Message
	feeds map[*fakeFeed]bool
}

type fakeFeed struct {
	bus     *fakeBus
	room    string
	deliver func(store.Message)
}

func newFakeBus() *fakeBus { return &fakeBus{feeds: map[*fakeFeed]bool{}} }

// node is one hub's view of the bus.
type fakeNode struct{ bus *fakeBus }

func (n fakeNode) Follow(room string, last int64, deliver func(store.Message)) (Feed, error) {
	b := n.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	f := &fakeFeed{bus: b, room: room, deliver: deliver}
	b.feeds[f] = true
	for _, m := range b.log {
		if m.Room == room && m.ID > last {
			deliver(m)
		}
	}
	return f, nil
}

func (n fakeNode) Publish(m store.Message) error {
	b := n.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	b.log = append(b.log, m)
	for f := range b.feeds {
		if f.room == m.Room {
			f.deliver(m) // the sender's own feed too: it ignores what it delivered
		}
	}
	return nil
}

func (f *fakeFeed) Offer(m store.Message) {
	f.bus.mu.Lock()
	defer f.bus.mu.Unlock()
	if f.bus.feeds[f] {
		f.deliver(m)
	}
}

func (f *fakeFeed) Stop() {
	f.bus.mu.Lock()
	defer f.bus.mu.Unlock()
	delete(f.bus.feeds, f)
}

func (b *fakeBus) following(room string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for f := range b.feeds {
		if f.room == room {
			n++
		}
	}
	return n
}

func newClusterHubs(t *testing.T, n int) (*fakeBus, []*Hub) {
	t.Helper()
	bus, st := newFakeBus(), store.NewMemory()
	var hubs []*Hub
	for range n {
		h := newTestHub(t, WithStore(st), WithBus(fakeNode{bus}))
		if err := h.LoadRooms(context.Background()); err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, h)
	}
	return bus, hubs
}

// With a bus, a message reaches the members on every node once, the
// sender's copy carrying its cid, and a topic set on one node is the
// room's topic on the others, shown to later joiners too.
func TestBusMessagesAndTopicAcrossHubs(t *testing.T) {
	_, hubs := newClusterHubs(t, 2)
	alice := connect(t, hubs[0], "alice", ViaWeb)
	bob := connect(t, hubs[1], "bob", ViaWeb)
	nextKind(t, alice, KindHistory)
	nextKind(t, bob, KindHistory)

	hubs[0].InputWithCID(alice, "", "hello", "c1")
	if ev := nextMessage(t, alice); ev.Text != "hello" || ev.CID != "c1" || ev.ID == 0 {
		t.Fatalf("alice's echo = %+v", ev)
	}
	got := nextMessage(t, bob)
	if got.Text != "hello" || got.From != "alice" || got.CID != "" {
		t.Fatalf("bob got %+v", got)
	}
	hubs[1].Input(bob, "", "hi alice")
	if ev := nextMessage(t, alice); ev.Text != "hi alice" || ev.ID <= got.ID {
		t.Fatalf("alice got %+v after id %d", ev, got.ID)
	}
	if ev := nextMessage(t, bob); ev.Text != "hi alice" {
		t.Fatalf("bob's own message = %+v", ev)
	}

	hubs[1].Input(bob, "", "/topic shared")
	if ev := nextKind(t, alice, KindTopic); ev.Text != "shared" || ev.From != "bob" {
		t.Fatalf("alice's topic event = %+v", ev)
	}
	if ev := nextKind(t, bob, KindTopic); ev.Text != "shared" {
		t.Fatalf("bob's topic event = %+v", ev)
	}
	carol := connect(t, hubs[0], "carol", ViaWeb)
	if ev := nextKind(t, carol, KindTopic); ev.Text != "shared" {
		t.Fatalf("carol joined to topic %+v", ev)
	}
	hist := nextKind(t, carol, KindHistory)
	if len(hist.History) != 2 || hist.History[0].Text != "hello" || hist.History[1].Text != "hi alice" {
		t.Fatalf("carol's history = %+v", hist.History)
	}
	// Each message once: nothing else queued for alice but carol's join.
	for len(alice.Events()) > 0 {
		if ev := <-alice.Events(); ev.Kind == KindMessage {
			t.Fatalf("alice got a message twice: %+v", ev)
		}
	}
}

// A node follows a room while it has members there; what was stored
// meanwhile on other nodes is in the room's history when someone joins
// again.
func TestBusFollowsWhileMembersHere(t *testing.T) {
	bus, hubs := newClusterHubs(t, 2)
	alice := connect(t, hubs[0], "alice", ViaWeb)
	bob := connect(t, hubs[1], "bob", ViaWeb)
	hubs[0].Input(alice, "", "/join side")
	nextKind(t, alice, KindHistory)
	nextKind(t, alice, KindHistory)
	if n := bus.following("side"); n != 1 {
		t.Fatalf("%d feeds of #side, want 1 (alice's node)", n)
	}
	hubs[1].Input(bob, "", "/join side")
	if n := bus.following("side"); n != 2 {
		t.Fatalf("%d feeds of #side, want 2", n)
	}
	hubs[1].Input(bob, "", "/part side")
	nextKind(t, bob, KindPart)
	if n := bus.following("side"); n != 1 {
		t.Fatalf("%d feeds of #side after bob left, want 1", n)
	}
	hubs[0].InputWithCID(alice, "side", "while bob was away", "c2")
	if ev := nextMessage(t, alice); ev.Text != "while bob was away" || ev.CID != "c2" {
		t.Fatalf("alice's echo = %+v", ev)
	}
	hubs[1].Input(bob, "", "/join side")
	for {
		ev := nextKind(t, bob, KindHistory)
		if ev.Room != "side" {
			continue
		}
		if len(ev.History) != 1 || ev.History[0].Text != "while bob was away" {
			t.Fatalf("bob's history of #side = %+v", ev.History)
		}
		break
	}
	bob.Leave()
	alice.Leave()
	if n := bus.following("side") + bus.following("lobby"); n != 0 {
		t.Fatalf("%d feeds left once everyone left", n)
	}
}

// fakeClaims is a cluster's nick claims shared by hubs; down makes every
// claim fail as an unreachable bus does.
type fakeClaims struct {
	mu   sync.Mutex
	held map[string]nodeClaim
	down bool
}

type nodeClaim struct {
	node int
	NickClaim
}

// fakeClaimsNode is one hub's view of the claims.
type fakeClaimsNode struct {
	c    *fakeClaims
	node int
}

func (n fakeClaimsNode) ClaimNick(fold string, claim NickClaim) error {
	c := n.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return ErrClaimsUnavailable
	}
	mine := nodeClaim{n.node, claim}
	if cur, ok := c.held[fold]; ok && cur != mine && (claim.Fingerprint == "" || cur.Fingerprint != claim.Fingerprint) {
		return ErrNickHeldElsewhere
	}
	c.held[fold] = mine
	return nil
}

func (n fakeClaimsNode) ReleaseNick(fold string, claim NickClaim) {
	c := n.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[fold] == (nodeClaim{n.node, claim}) {
		delete(c.held, fold)
	}
}

// A nick connected on one node is taken on the others: a guest gets the
// alternative nick, /nick is refused; once its holder leaves, it is free.
// When claims cannot be checked, connecting is refused with a code that
// says to try again.
func TestNickClaimsAcrossHubs(t *testing.T) {
	claims := &fakeClaims{held: map[string]nodeClaim{}}
	st := store.NewMemory()
	var hubs []*Hub
	for node := range 2 {
		h := newTestHub(t, WithStore(st), WithNickClaims(fakeClaimsNode{claims, node}))
		if err := h.LoadRooms(context.Background()); err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, h)
	}
	alice := connect(t, hubs[0], "alice", ViaWeb)
	if _, err := hubs[1].Connect(Identity{Nick: "Alice", Via: ViaWeb}); errorCode(err) != "nick_taken" {
		t.Fatalf("Alice on the other node: %v", err)
	}
	other := connect(t, hubs[1], "alice", ViaSSH) // alternative nick allowed
	if other.Nick() != "alice_2" {
		t.Fatalf("guest got %q, want alice_2", other.Nick())
	}
	if ev := answerTo(t, hubs[1], other, "/nick alice"); ev.Code != "nick_taken" {
		t.Fatalf("/nick alice = %+v", ev)
	}
	alice.Leave()
	answerTo(t, hubs[1], other, "/nick alice")
	if other.Nick() != "alice" {
		t.Fatalf("after alice left: %q", other.Nick())
	}
	// The old nick was given back.
	if s := connect(t, hubs[0], "alice_2", ViaWeb); s.Nick() != "alice_2" {
		t.Fatalf("alice_2 not freed: %q", s.Nick())
	}

	claims.mu.Lock()
	claims.down = true
	claims.mu.Unlock()
	_, err := hubs[0].Connect(Identity{Nick: "carol", Via: ViaWeb})
	if errorCode(err) != CodeClusterUnavailable || !errors.Is(err, ErrClaimsUnavailable) {
		t.Fatalf("connect with claims down: %v", err)
	}
}

// fencedNode is a fakeNode that can lose its lease.
type fencedNode struct {
	fakeNode
	live *atomic.Bool
}

func (n fencedNode) Live() bool { return n.live.Load() }

// A node that has lost its cluster lease (stopped, or cut off from the
// bus) stores nothing its sessions say, message or topic: their nicks may
// be held by others by now. The sender is told to try again; once the lease is back
// the message goes through.
func TestBusWithoutLeaseStoresNoMessage(t *testing.T) {
	var live atomic.Bool
	live.Store(true)
	st := store.NewMemory()
	h := newTestHub(t, WithStore(st), WithBus(fencedNode{fakeNode{newFakeBus()}, &live}))
	if err := h.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	alice := connect(t, h, "alice", ViaWeb)
	nextKind(t, alice, KindHistory)

	live.Store(false)
	h.InputWithCID(alice, "", "from a stale node", "c1")
	if ev := nextKind(t, alice, KindError); ev.Code != CodeClusterUnavailable || ev.CID != "c1" {
		t.Fatalf("a message without the lease: %+v", ev)
	}
	h.Input(alice, "", "/topic set by a stale node")
	if ev := nextKind(t, alice, KindError); ev.Code != CodeClusterUnavailable {
		t.Fatalf("a topic without the lease: %+v", ev)
	}
	live.Store(true)
	h.InputWithCID(alice, "", "from a live node", "c2")
	if ev := nextMessage(t, alice); ev.Text != "from a live node" || ev.CID != "c2" {
		t.Fatalf("a message with the lease back: %+v", ev)
	}
	msgs, err := st.History(context.Background(), h.lobby, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Text != "from a live node" {
		t.Fatalf("stored: %+v", msgs)
	}
}

// A node without its lease sends no private message either, nor a reply:
// the nick it shows may have been given to someone else meanwhile.
func TestBusWithoutLeaseSendsNoPrivateMessage(t *testing.T) {
	var live atomic.Bool
	live.Store(true)
	h := newTestHub(t, WithStore(store.NewMemory()), WithBus(fencedNode{fakeNode{newFakeBus()}, &live}))
	if err := h.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	alice := connect(t, h, "alice", ViaWeb)
	bob := connect(t, h, "bob", ViaWeb)
	h.Input(bob, "", "/msg alice hello")
	drain(alice)
	drain(bob)

	live.Store(false)
	for _, line := range []string{"/msg bob from a stale node", "/reply from a stale node"} {
		h.InputWithCID(alice, "", line, "c1")
		if ev := nextKind(t, alice, KindError); ev.Code != CodeClusterUnavailable {
			t.Fatalf("%q without the lease: %+v", line, ev)
		}
		if got := privatesIn(drain(bob)); len(got) != 0 {
			t.Fatalf("%q without the lease reached bob: %+v", line, got)
		}
	}
	live.Store(true)
	h.InputWithCID(alice, "", "/reply with the lease back", "c1")
	if got := privatesIn(drain(bob)); len(got) != 1 || got[0].Text != "with the lease back" {
		t.Fatalf("bob got %+v", got)
	}
}

// fenceDuringClaim runs during (when set) once a claim is made, as a node
// that fences itself while the bus answers.
type fenceDuringClaim struct {
	fakeClaimsNode
	during func()
}

func (n *fenceDuringClaim) ClaimNick(fold string, claim NickClaim) error {
	err := n.fakeClaimsNode.ClaimNick(fold, claim)
	if n.during != nil {
		n.during()
	}
	return err
}

// A node that fences itself (closing every session) while a newcomer's
// nick is being claimed refuses the newcomer with "try again" and gives
// the claim back, rather than admit a session the fence did not close
// under a nick the cluster may give away.
func TestFenceDuringAClaimRefusesTheNewcomer(t *testing.T) {
	claims := &fakeClaims{held: map[string]nodeClaim{}}
	node := &fenceDuringClaim{fakeClaimsNode: fakeClaimsNode{claims, 0}}
	h := newTestHub(t, WithStore(store.NewMemory()), WithNickClaims(node))
	if err := h.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	node.during = func() { h.DisconnectAll(ReasonClusterLost) }
	if _, err := h.Connect(Identity{Nick: "carol", Via: ViaWeb}); errorCode(err) != CodeClusterUnavailable {
		t.Fatalf("connect across a fence: %v, want %s", err, CodeClusterUnavailable)
	}
	claims.mu.Lock()
	_, kept := claims.held["carol"]
	claims.mu.Unlock()
	if kept {
		t.Fatal("the claim made across the fence was kept")
	}
	node.during = nil
	if s := connect(t, h, "carol", ViaWeb); s.Nick() != "carol" {
		t.Fatalf("after the fence: %q", s.Nick())
	}
}

// A node claiming its sessions' nicks again after its lease lapsed lists
// them with their claims; a newcomer whose claim was being made meanwhile
// is refused with "try again" and its claim given back (the list did not
// include it); a nick another node took meanwhile closes only its own
// person's sessions, with a reason that says so.
func TestSettleNicksAfterALapse(t *testing.T) {
	claims := &fakeClaims{held: map[string]nodeClaim{}}
	node := &fenceDuringClaim{fakeClaimsNode: fakeClaimsNode{claims, 0}}
	h := newTestHub(t, WithStore(store.NewMemory()), WithNickClaims(node))
	if err := h.LoadRooms(context.Background()); err != nil {
		t.Fatal(err)
	}
	alice := connect(t, h, "alice", ViaWeb)
	bob := connect(t, h, "bob", ViaSSH)
	var listed []HeldNick
	node.during = func() { listed = h.SettleNicks() }
	if _, err := h.Connect(Identity{Nick: "carol", Via: ViaWeb}); errorCode(err) != CodeClusterUnavailable {
		t.Fatalf("connect while the nicks were listed: %v, want %s", err, CodeClusterUnavailable)
	}
	node.during = nil
	slices.SortFunc(listed, func(a, b HeldNick) int { return strings.Compare(a.Fold, b.Fold) })
	want := []HeldNick{{Fold: access.Fold("alice"), Claim: NickClaim{Session: alice.id}}, {Fold: access.Fold("bob"), Claim: NickClaim{Session: bob.id}}}
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %+v, want %+v", listed, want)
	}
	claims.mu.Lock()
	_, kept := claims.held["carol"]
	claims.mu.Unlock()
	if kept {
		t.Fatal("the claim made while the nicks were listed was kept")
	}
	if n := h.CloseNick(access.Fold("alice"), ReasonNickTakenElsewhere); n != 1 {
		t.Fatalf("closed %d sessions of alice, want 1", n)
	}
	select {
	case <-alice.Done():
	default:
		t.Fatal("alice's session is still open")
	}
	if got := alice.CloseReason(); got != ReasonNickTakenElsewhere {
		t.Fatalf("alice closed with %+v", got)
	}
	select {
	case <-bob.Done():
		t.Fatal("bob's session was closed too")
	default:
	}
}

// A one-shot watcher (tail -f) on a node where the room has no member
// gets the messages said on other nodes: the node follows the room while
// it is watched, and stops when the watcher leaves.
func TestBusWatcherWithoutMembersHere(t *testing.T) {
	bus, hubs := newClusterHubs(t, 2)
	alice := connect(t, hubs[0], "alice", ViaWeb)
	nextKind(t, alice, KindHistory)
	shot := connectOneShot(t, hubs[1], Identity{Nick: "tail"})
	if _, err := hubs[1].Watch(shot, "lobby"); err != nil {
		t.Fatal(err)
	}
	if n := bus.following("lobby"); n != 2 {
		t.Fatalf("%d feeds of the lobby while watched on the other node, want 2", n)
	}
	hubs[0].Input(alice, "", "for the watcher")
	if ev := next(t, shot); ev.Kind != KindMessage || ev.Text != "for the watcher" {
		t.Fatalf("watcher got %+v", ev)
	}
	shot.Leave()
	if n := bus.following("lobby"); n != 1 {
		t.Fatalf("%d feeds of the lobby after the watcher left, want 1", n)
	}
}

// heldNode is a bus whose feeds deliver nothing while held, as a feed
// waiting for another node's entry; released, they deliver what they
// held, in order.
type heldNode struct {
	fakeNode
	// holding gets a value for each entry held.
	holding chan struct{}
	mu      sync.Mutex
	held    bool
	pending []func()
}

func (n *heldNode) Follow(room string, last int64, deliver func(store.Message)) (Feed, error) {
	return n.fakeNode.Follow(room, last, func(m store.Message) {
		n.mu.Lock()
		if n.held {
			n.pending = append(n.pending, func() { deliver(m) })
			n.mu.Unlock()
			n.holding <- struct{}{}
			return
		}
		n.mu.Unlock()
		deliver(m)
	})
}

func (n *heldNode) hold() {
	n.mu.Lock()
	n.held = true
	n.mu.Unlock()
}

func (n *heldNode) release() {
	n.mu.Lock()
	n.held = false
	pending := n.pending
	n.pending = nil
	n.mu.Unlock()
	for _, f := range pending {
		f()
	}
}

// In a cluster an HTTP post answers with its own message once the room's
// feed delivers it, even when the feed is waiting for an entry first:
// not "not confirmed", and the next post gets its own message, not the
// one before.
func TestPostWaitsForItsEntryOnTheFeed(t *testing.T) {
	node := &heldNode{fakeNode: fakeNode{newFakeBus()}, holding: make(chan struct{}, 10)}
	h := newStoredHub(t, WithStore(store.NewMemory()), WithBus(node))
	alice := connectKey(t, h, "alice", aliceKey, ViaSSH)
	answerTo(t, h, alice, "/register")
	tok, _ := h.BotToken(tokenFromNotice(t, answerTo(t, h, alice, "/token new ci")))

	node.hold()
	type result struct {
		ev  *Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		ev, err := h.Post(tok, "192.0.2.7", "lobby", "first", "")
		done <- result{ev, err}
	}()
	// The post's message is stored and the feed holds it.
	select {
	case r := <-done:
		t.Fatalf("the post answered before its entry came round: %+v, %v", r.ev, r.err)
	case <-node.holding:
	}
	node.release()
	first := <-done
	if first.err != nil || first.ev.Text != "first" || first.ev.ID == 0 {
		t.Fatalf("the first post = %+v, %v", first.ev, first.err)
	}
	second, err := h.Post(tok, "192.0.2.7", "lobby", "second", "")
	if err != nil || second.Text != "second" || second.ID <= first.ev.ID {
		t.Fatalf("the second post = %+v, %v", second, err)
	}
}

// countingNode counts the entries its feeds deliver.
type countingNode struct {
	fakeNode
	delivered atomic.Int64
}

func (n *countingNode) Follow(room string, last int64, deliver func(store.Message)) (Feed, error) {
	return n.fakeNode.Follow(room, last, func(m store.Message) {
		n.delivered.Add(1)
		deliver(m)
	})
}

// A node that follows a room again after a long while (or for the first
// time, the room being made on another node) reads the room's last
// history page and topic from the store instead of replaying every
// entry since: the joiner gets the newest messages and the topic, and the
// feed delivers no backlog.
func TestFollowAgainReadsTheLastPageNotTheBacklog(t *testing.T) {
	bus, st := newFakeBus(), store.NewMemory()
	one := &countingNode{fakeNode: fakeNode{bus}}
	h1 := newStoredHub(t, WithStore(st), WithBus(one), WithHistory(5))
	h2 := newStoredHub(t, WithStore(st), WithBus(fakeNode{bus}), WithHistory(5))
	alice := connect(t, h1, "alice", ViaWeb)
	bob := connect(t, h2, "bob", ViaWeb)
	h1.Input(alice, "", "/join garden")
	h1.Input(alice, "", "/part garden")
	h2.Input(bob, "", "/join garden")
	h2.Input(bob, "garden", "/topic roses")
	for i := range 60 {
		h2.Input(bob, "garden", fmt.Sprintf("message %d", i))
	}
	drain(alice)
	before := one.delivered.Load()
	h1.Input(alice, "", "/join garden")
	if n := one.delivered.Load() - before; n > 0 {
		t.Fatalf("following #garden again replayed %d entries", n)
	}
	if ev := nextKind(t, alice, KindTopic); ev.Text != "roses" {
		t.Fatalf("alice's topic: %+v", ev)
	}
	hist := nextKind(t, alice, KindHistory)
	if len(hist.History) != 5 || hist.History[4].Text != "message 59" || hist.History[0].Text != "message 55" || !hist.More {
		t.Fatalf("alice's history on joining again: %d messages, more %v", len(hist.History), hist.More)
	}
	// Live again: the next message reaches her once.
	h2.Input(bob, "garden", "welcome back")
	if ev := nextKind(t, alice, KindMessage); ev.Text != "welcome back" {
		t.Fatalf("alice got %+v", ev)
	}
}

// flakyFollow is a fakeNode whose next Follow calls fail, as when the bus
// does not answer.
type flakyFollow struct {
	fakeNode
	fail *atomic.Int32
}

func (n flakyFollow) Follow(room string, last int64, deliver func(store.Message)) (Feed, error) {
	if n.fail.Add(-1) >= 0 {
		return nil, errors.New("nats: timeout")
	}
	return n.fakeNode.Follow(room, last, deliver)
}

// A member who joined while the node could not follow the room gets what
// was said meanwhile once the node follows it: following again does not
// skip to the store's last page when someone here is waiting for it.
func TestFollowAgainWithAMemberHereReplaysWhatItMissed(t *testing.T) {
	bus, st := newFakeBus(), store.NewMemory()
	var fail atomic.Int32
	one := newTestHub(t, WithStore(st), WithBus(flakyFollow{fakeNode{bus}, &fail}))
	two := newTestHub(t, WithStore(st), WithBus(fakeNode{bus}))
	for _, h := range []*Hub{one, two} {
		if err := h.LoadRooms(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	bob := connect(t, two, "bob", ViaWeb)
	two.Input(bob, "", "/join #side")
	alice := connect(t, one, "alice", ViaWeb)
	fail.Store(2) // the follow before her join, and the one after it
	one.Input(alice, "", "/join #side")
	drain(alice)
	two.Input(bob, "#side", "said while not followed")
	carol := connect(t, one, "carol", ViaWeb)
	one.Input(carol, "", "/join #side")
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-alice.Events():
			if ev.Kind == KindMessage && ev.Room == "side" && ev.Text == "said while not followed" {
				return
			}
		case <-deadline:
			t.Fatal("alice never got the message said while her node did not follow the room")
		}
	}
}

// historyReads is a store that counts its reads of a room's history.
type historyReads struct {
	*store.Memory
	mu    sync.Mutex
	rooms []string
}

func (s *historyReads) History(ctx context.Context, room string, before int64, limit int) ([]store.Message, error) {
	s.mu.Lock()
	s.rooms = append(s.rooms, room)
	s.mu.Unlock()
	return s.Memory.History(ctx, room, before, limit)
}

func (s *historyReads) read() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rooms)
}

// A node that starts in a cluster reads no room's history: it reads a
// room's last page when it takes the room up, so its start-up does not
// grow with every stored room's history; someone joining a room then
// gets its last messages, and a watcher of a room nobody here uses gets
// them before its first live event (as many as were said before).
func TestClusterStartReadsHistoryOnDemand(t *testing.T) {
	bus, st := newFakeBus(), store.NewMemory()
	one := newStoredHub(t, WithStore(st), WithBus(fakeNode{bus}))
	alice := connect(t, one, "alice", ViaWeb)
	newest := map[string]uint64{}
	for _, name := range []string{"garden", "patio", "attic"} {
		one.Input(alice, "", "/join "+name)
		nextKind(t, alice, KindHistory)
		for i := range 3 {
			one.Input(alice, name, fmt.Sprintf("%s %d", name, i))
			newest[name] = nextMessage(t, alice).ID
		}
	}

	counted := &historyReads{Memory: st}
	two := newStoredHub(t, WithStore(counted), WithBus(fakeNode{bus}))
	if read := counted.read(); len(read) != 0 {
		t.Fatalf("the node's start-up read the history of %v", read)
	}
	if two.RoomCount() != one.RoomCount() {
		t.Fatalf("the node serves %d rooms, the store has %d", two.RoomCount(), one.RoomCount())
	}
	bob := connect(t, two, "bob", ViaWeb)
	nextKind(t, bob, KindHistory)
	two.Input(bob, "", "/join patio")
	hist := nextKind(t, bob, KindHistory)
	if len(hist.History) != 3 || hist.History[0].Text != "patio 0" || hist.History[2].Text != "patio 2" {
		t.Fatalf("bob's history of #patio: %+v", hist.History)
	}
	if read := counted.read(); slices.Contains(read, "garden") || slices.Contains(read, "attic") {
		t.Fatalf("rooms nobody on the node used were read: %v", read)
	}

	watcher, err := two.Connect(Identity{Nick: "tail", Via: ViaSSH, OneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(watcher.Leave)
	last, err := two.Watch(watcher, "#attic")
	if err != nil {
		t.Fatal(err)
	}
	if last != newest["attic"] {
		t.Fatalf("watching #attic from message %d, its newest is %d", last, newest["attic"])
	}
}

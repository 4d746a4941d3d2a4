package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/cluster"
	"github.com/tertulia/tertulia/internal/cluster/natstest"
)

const wait = 15 * time.Second

func join(t *testing.T, url, id string, ttl time.Duration) *cluster.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	n, err := cluster.Join(ctx, cluster.Config{URLs: []string{url}, NodeID: id, LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// A node id is unique among live nodes; a node that leaves is seen to
// leave by the others, and its id is free again.
func TestNodeLeases(t *testing.T) {
	srv := natstest.Start(t)
	a := join(t, srv.URL(), "a", 3*time.Second)
	ctx := context.Background()
	if _, err := cluster.Join(ctx, cluster.Config{URLs: []string{srv.URL()}, NodeID: "a"}); err == nil {
		t.Fatal("a second node joined with a live node's id")
	}
	gone := make(chan string, 4)
	if err := a.WatchNodes(ctx, func(id string, alive bool) {
		if !alive {
			gone <- id
		}
	}); err != nil {
		t.Fatal(err)
	}
	b, err := cluster.Join(ctx, cluster.Config{URLs: []string{srv.URL()}, NodeID: "b", LeaseTTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if alive, err := a.NodeAlive(ctx, "b"); err != nil || !alive {
		t.Fatalf("b alive = %v, %v", alive, err)
	}
	b.Close()
	select {
	case id := <-gone:
		if id != "b" {
			t.Fatalf("gone: %s", id)
		}
	case <-time.After(wait):
		t.Fatal("b's departure was not seen")
	}
	if alive, _ := a.NodeAlive(ctx, "b"); alive {
		t.Fatal("b still alive after leaving")
	}
}

// A node whose process stops renewing (its clock jumps past two thirds of
// the lease) is not live at once, before its lease loop runs: it must not
// act as holder of anything.
func TestNodeFencesItselfWhenLate(t *testing.T) {
	srv := natstest.Start(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	ctx := context.Background()
	n, err := cluster.Join(ctx, cluster.Config{URLs: []string{srv.URL()}, NodeID: "late", LeaseTTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if !n.Live() {
		t.Fatal("not live after joining")
	}
	now.Add(int64(41 * time.Minute))
	if n.Live() {
		t.Fatal("live after 41 minutes without renewing a 1 h lease")
	}
	if err := n.ClaimNick(ctx, "alice", cluster.Claim{Session: 1}); !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("claim while fenced: %v", err)
	}
}

// A node that was fenced closed all its sessions; when it takes its lease
// again, the claims of those sessions (which it could not release while
// cut off) are dropped, or their nicks would stay taken for good. A node
// started again under the id of one that died likewise drops the claims
// of its previous run.
func TestNodeDropsClaimsOfClosedSessions(t *testing.T) {
	srv := natstest.Start(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	ctx := context.Background()
	a, err := cluster.Join(ctx, cluster.Config{URLs: []string{srv.URL()}, NodeID: "a", LeaseTTL: 3 * time.Second, Now: clock})
	must(t, err)
	defer a.Close()
	b := join(t, srv.URL(), "b", 3*time.Second)
	must(t, a.ClaimNick(ctx, "alice", cluster.Claim{Session: 1}))
	fenced := make(chan struct{}, 1)
	a.OnFence(func() { fenced <- struct{}{} })
	now.Add(int64(2500 * time.Millisecond)) // past two thirds of the lease
	select {
	case <-fenced:
	case <-time.After(wait):
		t.Fatal("a did not fence itself")
	}
	// No event says the lease is back: ask until it is.
	deadline := time.Now().Add(wait)
	for !a.Live() {
		if time.Now().After(deadline) {
			t.Fatal("a did not take its lease again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.ClaimNick(ctx, "alice", cluster.Claim{Session: 2}); err != nil {
		t.Fatalf("alice, whose session a closed when fenced, is still held: %v", err)
	}

	c, err := cluster.Join(ctx, cluster.Config{URLs: []string{srv.URL()}, NodeID: "c", LeaseTTL: 3 * time.Second})
	must(t, err)
	must(t, c.ClaimNick(ctx, "carol", cluster.Claim{Session: 3}))
	c.Close() // as if it died: its claim stays
	join(t, srv.URL(), "c", 3*time.Second)
	if err := b.ClaimNick(ctx, "carol", cluster.Claim{Session: 4}); err != nil {
		t.Fatalf("carol, claimed by c's previous run, is held once c started again: %v", err)
	}
}

// Nicks are unique across nodes; the same key shares its nick between
// devices; a released nick, or one held by a node whose lease ended, can
// be taken.
func TestNickClaims(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	a := join(t, srv.URL(), "a", 3*time.Second)
	b := join(t, srv.URL(), "b", 3*time.Second)
	must(t, a.ClaimNick(ctx, "alice", cluster.Claim{Fingerprint: "SHA256:alice"}))
	if err := b.ClaimNick(ctx, "alice", cluster.Claim{Session: 7}); !errors.Is(err, cluster.ErrNickHeld) {
		t.Fatalf("a guest took alice: %v", err)
	}
	must(t, b.ClaimNick(ctx, "alice", cluster.Claim{Fingerprint: "SHA256:alice"})) // her phone, on node b
	must(t, a.ClaimNick(ctx, "bob", cluster.Claim{Session: 1}))
	if err := b.ClaimNick(ctx, "bob", cluster.Claim{Session: 2}); !errors.Is(err, cluster.ErrNickHeld) {
		t.Fatalf("two guests hold bob: %v", err)
	}
	must(t, a.ReleaseNick(ctx, "bob", cluster.Claim{Session: 1}))
	must(t, b.ClaimNick(ctx, "bob", cluster.Claim{Session: 2}))
	if h, alive, err := a.NickHolder(ctx, "bob"); err != nil || !alive || h.Node != "b" {
		t.Fatalf("bob held by %+v alive %v (%v)", h, alive, err)
	}

	c, err := cluster.Join(ctx, cluster.Config{URLs: []string{srv.URL()}, NodeID: "c", LeaseTTL: 3 * time.Second})
	must(t, err)
	must(t, c.ClaimNick(ctx, "carol", cluster.Claim{Session: 3}))
	c.Close() // gives its lease back: carol's claim is stale at once
	must(t, a.ClaimNick(ctx, "carol", cluster.Claim{Session: 4}))
}

// A key's devices on two nodes hold its nick together: it stays held,
// by that key only, until the device on each node has released it, and
// requests about it go to the nodes still holding it. A node that starts
// again under its id drops the claims its earlier run left.
func TestNickClaimOfOneKeyOnTwoNodes(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	a := join(t, srv.URL(), "a", 3*time.Second)
	b := join(t, srv.URL(), "b", 3*time.Second)
	alice := cluster.Claim{Fingerprint: "SHA256:alice"}
	must(t, a.ClaimNick(ctx, "alice", alice))
	must(t, b.ClaimNick(ctx, "alice", alice))
	must(t, b.ClaimNick(ctx, "alice", alice)) // a second device on b
	if h, alive, err := a.NickHolder(ctx, "alice"); err != nil || !alive || !slices.Equal(h.Nodes, []string{"a", "b"}) {
		t.Fatalf("alice held by %+v alive %v (%v), want nodes a and b", h, alive, err)
	}
	must(t, a.ReleaseNick(ctx, "alice", alice))
	if err := a.ClaimNick(ctx, "alice", cluster.Claim{Session: 9}); !errors.Is(err, cluster.ErrNickHeld) {
		t.Fatalf("a guest took alice while her device on b holds it: %v", err)
	}
	if h, alive, err := a.NickHolder(ctx, "alice"); err != nil || !alive || !slices.Equal(h.Nodes, []string{"b"}) {
		t.Fatalf("alice held by %+v alive %v (%v), want node b", h, alive, err)
	}
	must(t, b.ReleaseNick(ctx, "alice", alice))
	must(t, a.ClaimNick(ctx, "alice", cluster.Claim{Session: 9}))

	c, err := cluster.Join(ctx, cluster.Config{URLs: []string{srv.URL()}, NodeID: "c", LeaseTTL: 3 * time.Second})
	must(t, err)
	must(t, c.ClaimNick(ctx, "carol", cluster.Claim{Fingerprint: "SHA256:carol"}))
	must(t, b.ClaimNick(ctx, "carol", cluster.Claim{Fingerprint: "SHA256:carol"}))
	c.Close()
	again := join(t, srv.URL(), "c", 3*time.Second) // no session of carol's there
	if h, alive, err := again.NickHolder(ctx, "carol"); err != nil || !alive || !slices.Equal(h.Nodes, []string{"b"}) {
		t.Fatalf("carol held by %+v alive %v (%v) once c started again, want node b", h, alive, err)
	}
}

// Fifty claims of one nick at once over three nodes: exactly one wins.
func TestNickClaimRace(t *testing.T) {
	srv := natstest.Start(t)
	nodes := []*cluster.Node{join(t, srv.URL(), "n1", 6*time.Second), join(t, srv.URL(), "n2", 6*time.Second), join(t, srv.URL(), "n3", 6*time.Second)}
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := nodes[i%3].ClaimNick(context.Background(), "dora", cluster.Claim{Session: uint64(i + 1)})
			switch {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, cluster.ErrNickHeld):
				t.Errorf("claim %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d claims won", won.Load())
	}
}

// A claim fails closed when the bus is gone.
func TestNickClaimFailsClosedWithoutTheBus(t *testing.T) {
	srv := natstest.Start(t)
	a := join(t, srv.URL(), "a", 6*time.Second)
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.ClaimNick(ctx, "erin", cluster.Claim{Session: 1}); !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("claim without the bus: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// store is the test's stand-in for the shared database: entries of each
// room in commit order, with the room's previous ID kept as a writer reads
// it under the room's row lock.
type store struct {
	mu     sync.Mutex
	nextID int64
	rooms  map[string][]cluster.Entry
}

func (s *store) commit(room, text string) cluster.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	var prev int64
	if es := s.rooms[room]; len(es) > 0 {
		prev = es[len(es)-1].ID
	}
	e := cluster.Entry{Room: room, ID: s.nextID, Prev: prev, Payload: []byte(text)}
	s.rooms[room] = append(s.rooms[room], e)
	return e
}

func (s *store) fetch(_ context.Context, room string, after int64, limit int) ([]cluster.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []cluster.Entry
	for _, e := range s.rooms[room] {
		if e.ID > after && len(out) < limit {
			e.Prev = 0
			out = append(out, e)
		}
	}
	return out, nil
}

// Three nodes, concurrent writers on each, some publishes lost: every node
// delivers every entry of the room once, in the store's order.
func TestFeedsAgreeOnOneOrder(t *testing.T) {
	srv := natstest.Start(t)
	st := &store{rooms: map[string][]cluster.Entry{}}
	nodes := []*cluster.Node{join(t, srv.URL(), "n1", 6*time.Second), join(t, srv.URL(), "n2", 6*time.Second), join(t, srv.URL(), "n3", 6*time.Second)}
	const perNode = 60
	got := make([][]int64, len(nodes))
	done := make([]chan struct{}, len(nodes))
	var feeds []*cluster.RoomFeed
	for i, n := range nodes {
		done[i] = make(chan struct{})
		f, err := n.Follow("lobby", 0, st.fetch, func(e cluster.Entry) {
			got[i] = append(got[i], e.ID)
			if len(got[i]) == perNode*len(nodes) {
				close(done[i])
			}
		})
		must(t, err)
		t.Cleanup(f.Stop)
		feeds = append(feeds, f)
	}
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perNode {
				e := st.commit("lobby", fmt.Sprintf("%d.%d", i, j))
				if j%17 == 5 {
					continue // this publish is lost; the others catch up from the store
				}
				must(t, n.PublishEntry(e))
			}
		}()
	}
	wg.Wait()
	for i := range nodes {
		select {
		case <-done[i]:
		case <-time.After(wait):
			t.Fatalf("node %d delivered %d of %d", i, len(got[i]), perNode*len(nodes))
		}
	}
	want := fmt.Sprint(got[0])
	if !sort.SliceIsSorted(got[0], func(a, b int) bool { return got[0][a] < got[0][b] }) {
		t.Fatalf("not in store order: %v", got[0])
	}
	for i := range nodes {
		if fmt.Sprint(got[i]) != want {
			t.Fatalf("node %d: %v\nnode 0: %v", i, got[i], want)
		}
	}
	_ = feeds
}

// A node counts the entries it publishes and receives, the gaps it fills
// from the store and the entries only the store supplied; it shows its
// lease held and its connection up.
func TestStatsCountBusAndCatchUp(t *testing.T) {
	srv := natstest.Start(t)
	st := &store{rooms: map[string][]cluster.Entry{}}
	a, b := join(t, srv.URL(), "a", 6*time.Second), join(t, srv.URL(), "b", 6*time.Second)
	got := make(chan int64, 10)
	f, err := b.Follow("lobby", 0, st.fetch, func(e cluster.Entry) { got <- e.ID })
	must(t, err)
	t.Cleanup(f.Stop)
	must(t, b.Conn().Flush()) // the server has b's subscription

	must(t, a.PublishEntry(st.commit("lobby", "one")))
	st.commit("lobby", "two") // its publish is lost
	must(t, a.PublishEntry(st.commit("lobby", "three")))
	for _, want := range []int64{1, 2, 3} {
		select {
		case id := <-got:
			if id != want {
				t.Fatalf("delivered %d, want %d", id, want)
			}
		case <-time.After(wait):
			t.Fatalf("entry %d not delivered", want)
		}
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Published != 2 || sa.Received != 0 {
		t.Errorf("publisher: %+v, want 2 published, 0 received (it follows no room)", sa)
	}
	if sb.Published != 0 || sb.Received != 2 || sb.Gaps != 1 || sb.CatchUpEntries != 1 || sb.CatchUpFailures != 0 {
		t.Errorf("follower: %+v, want 2 received, 1 gap filled with 1 entry from the store", sb)
	}
	for _, s := range []cluster.Stats{sa, sb} {
		if !s.Connected || !s.LeaseHeld || s.Disconnects != 0 {
			t.Errorf("%+v: want connected, lease held, no disconnect", s)
		}
	}
}

// A long backlog the bus never brought is read from the store a page at a
// time, each page delivered before the next is read and without the
// feed's lock held meanwhile; every entry arrives once, in order.
func TestCatchUpReadsALongBacklogInPages(t *testing.T) {
	srv := natstest.Start(t)
	st := &store{rooms: map[string][]cluster.Entry{}}
	a, b := join(t, srv.URL(), "a", 6*time.Second), join(t, srv.URL(), "b", 6*time.Second)
	var (
		feed    atomic.Pointer[cluster.RoomFeed]
		limits  []int
		largest int
	)
	fetch := func(ctx context.Context, room string, after int64, limit int) ([]cluster.Entry, error) {
		if f := feed.Load(); f != nil && f.Last() != after {
			// Last takes the feed's lock: a catch-up holding it would
			// never get here.
			return nil, fmt.Errorf("read after %d, but %d was delivered", after, f.Last())
		}
		page, err := st.fetch(ctx, room, after, limit)
		limits, largest = append(limits, limit), max(largest, len(page))
		return page, err
	}
	delivered := make(chan int64, 2000)
	f, err := b.Follow("lobby", 0, fetch, func(e cluster.Entry) { delivered <- e.ID })
	must(t, err)
	t.Cleanup(f.Stop)
	feed.Store(f)
	must(t, b.Conn().Flush())

	const backlog = 1250
	var last cluster.Entry
	for i := range backlog {
		last = st.commit("lobby", fmt.Sprint(i))
	}
	must(t, a.PublishEntry(last)) // only the newest arrives: the rest is a gap
	for want := int64(1); want <= backlog; want++ {
		select {
		case id := <-delivered:
			if id != want {
				t.Fatalf("delivered %d, want %d", id, want)
			}
		case <-time.After(wait):
			t.Fatalf("entry %d not delivered", want)
		}
	}
	select {
	case id := <-delivered:
		t.Fatalf("entry %d delivered again", id)
	default:
	}
	if largest > 500 || len(limits) < 1+backlog/500 {
		t.Fatalf("%d reads with limits %v, the largest %d entries; want pages of at most 500", len(limits), limits, largest)
	}
	if s := b.Stats(); s.Gaps != 1 || s.CatchUpEntries != backlog-1 {
		t.Fatalf("stats %+v: want 1 gap, %d entries from the store", s, backlog-1)
	}
}

package cluster_test

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tertulia/tertulia/internal/cluster"
	"github.com/tertulia/tertulia/internal/cluster/natstest"
)

// sessions stands for a hub's sessions: the nicks they hold, and those
// the node closed because another node took them.
type sessions struct {
	mu      sync.Mutex
	held    []cluster.HeldNick
	settled chan struct{} // a value each time SettleNicks lists them
	lost    chan string
}

func newSessions(held ...cluster.HeldNick) *sessions {
	return &sessions{held: held, settled: make(chan struct{}, 16), lost: make(chan string, 16)}
}

func (s *sessions) HeldNicks() []cluster.HeldNick {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.held)
}

func (s *sessions) SettleNicks() []cluster.HeldNick {
	s.settled <- struct{}{}
	return s.HeldNicks()
}

func (s *sessions) NickLost(fold string) {
	s.mu.Lock()
	s.held = slices.DeleteFunc(s.held, func(n cluster.HeldNick) bool { return n.Fold == fold })
	s.mu.Unlock()
	s.lost <- fold
}

func joinAs(t *testing.T, url, id string, ttl time.Duration, replicas int) *cluster.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	n, err := cluster.Join(ctx, cluster.Config{URLs: []string{url}, NodeID: id, LeaseTTL: ttl, Replicas: replicas})
	must(t, err)
	t.Cleanup(n.Close)
	return n
}

// nodeGone returns a channel that gets a value when id's lease ends, as
// seen from n.
func nodeGone(t *testing.T, n *cluster.Node, id string) <-chan struct{} {
	t.Helper()
	gone := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	must(t, n.WatchNodes(ctx, func(node string, alive bool) {
		if node == id && !alive {
			select {
			case gone <- struct{}{}:
			default:
			}
		}
	}))
	return gone
}

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("%s: nothing within %v", what, wait)
	}
	var zero T
	return zero
}

// eventually polls cond (no event tells these states) until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type presenceEvent struct {
	room, node string
	members    string
}

// A node whose lease cannot be written while the bus answers it (as when
// JetStream elects a leader after a NATS server's death) keeps its
// sessions: it only refuses claims while it is not live. If its lease
// expires meanwhile, the others see it leave and may take its nicks; once
// it takes its lease again it claims its sessions' nicks again (one whose
// claim was lost is claimed anew), closes only the sessions whose nick
// another node took, and writes its members again, before it is live.
// With three NATS servers the buckets are replicated, and report a
// compare-and-set's conflict otherwise than one server does.
func TestNodeKeepsSessionsWhileOnlyItsLeaseCannotBeWritten(t *testing.T) {
	t.Run("one NATS server", func(t *testing.T) {
		keepsSessionsWhileOnlyItsLeaseCannotBeWritten(t, natstest.StartUsers(t, "a", "b", "tester"), 1)
	})
	t.Run("three NATS servers", func(t *testing.T) {
		keepsSessionsWhileOnlyItsLeaseCannotBeWritten(t, natstest.StartCluster(t, 3, "a", "b", "tester"), 3)
	})
}

// testBus is NATS as the tests run it: one server or a cluster.
type testBus interface {
	URLFor(user string) string
	Deny(user string, subjects ...string) error
}

func keepsSessionsWhileOnlyItsLeaseCannotBeWritten(t *testing.T, srv testBus, replicas int) {
	const ttl = 3 * time.Second
	a := joinAs(t, srv.URLFor("a"), "a", ttl, replicas)
	b := joinAs(t, srv.URLFor("b"), "b", ttl, replicas)
	ctx := context.Background()
	fenced := make(chan struct{}, 1)
	a.OnFence(func() { fenced <- struct{}{} })
	here := newSessions(
		cluster.HeldNick{Fold: "alice", Claim: cluster.Claim{Session: 1}},
		cluster.HeldNick{Fold: "bob", Claim: cluster.Claim{Session: 2}},
		cluster.HeldNick{Fold: "carol", Claim: cluster.Claim{Fingerprint: "SHA256:carol"}},
	)
	a.KeepClaims(here, time.Hour)
	for _, n := range here.HeldNicks() {
		must(t, a.ClaimNick(ctx, n.Fold, n.Claim))
	}

	seen := make(chan presenceEvent, 16)
	pb := b.NewPresence()
	must(t, pb.Start(ctx, func(string) []byte { return []byte(`[]`) }, func(room, node string, payload []byte) {
		seen <- presenceEvent{room, node, string(payload)}
	}))
	t.Cleanup(pb.Close)
	pa := a.NewPresence()
	must(t, pa.Start(ctx, func(string) []byte { return []byte(`["alice","bob","carol"]`) }, func(string, string, []byte) {}))
	t.Cleanup(pa.Close)
	pa.Changed("lobby")
	if e := await(t, seen, "a's members on b"); e != (presenceEvent{"lobby", "a", `["alice","bob","carol"]`}) {
		t.Fatalf("b saw %+v", e)
	}

	gone := nodeGone(t, b, "a")
	must(t, srv.Deny("a", "$KV.tertulia_nodes.a"))
	await(t, gone, "a's lease ending once it cannot be written")
	if a.Live() || a.Fenced() {
		t.Fatalf("a whose lease cannot be written: live %v, fenced %v; want neither", a.Live(), a.Fenced())
	}
	if err := a.ClaimNick(ctx, "dave", cluster.Claim{Session: 4}); !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("a claim on a node whose lease lapsed: %v", err)
	}
	// Meanwhile b takes alice (a is gone as far as b knows), and carol's
	// claim is lost. (With replicated buckets a read served by a replica
	// may still show a's lease for a moment: the claim is refused until
	// that replica has the lease's end too.)
	eventually(t, "b taking alice", func() bool {
		err := b.ClaimNick(ctx, "alice", cluster.Claim{Session: 9})
		if err != nil && !errors.Is(err, cluster.ErrNickHeld) {
			t.Fatal(err)
		}
		return err == nil
	})
	tester, err := nats.Connect(srv.URLFor("tester"))
	must(t, err)
	defer tester.Close()
	js, err := jetstream.New(tester)
	must(t, err)
	nicks, err := js.KeyValue(ctx, "tertulia_nicks")
	must(t, err)
	must(t, nicks.Delete(ctx, hex.EncodeToString([]byte("carol"))))
	if e := await(t, seen, "a's members leaving on b"); e != (presenceEvent{"lobby", "a", ""}) {
		t.Fatalf("b saw %+v", e)
	}

	must(t, srv.Deny("a"))
	await(t, here.settled, "a claiming its nicks again")
	if lost := await(t, here.lost, "the session whose nick b took closed"); lost != "alice" {
		t.Fatalf("a closed the sessions of %q, want alice's", lost)
	}
	eventually(t, "a live again", a.Live)
	if e := await(t, seen, "a's members back on b"); e != (presenceEvent{"lobby", "a", `["alice","bob","carol"]`}) {
		t.Fatalf("b saw %+v", e)
	}
	select {
	case <-fenced:
		t.Fatal("a closed all its sessions although the bus answered it")
	case lost := <-here.lost:
		t.Fatalf("a also closed the sessions of %q", lost)
	default:
	}
	for _, nick := range []string{"bob", "carol"} {
		holder, alive, err := b.NickHolder(ctx, nick)
		must(t, err)
		if !alive || !slices.Equal(holder.Nodes, []string{"a"}) {
			t.Fatalf("%s after a's recovery: held by %v (alive %v), want a", nick, holder.Nodes, alive)
		}
		if err := b.ClaimNick(ctx, nick, cluster.Claim{Session: 10}); !errors.Is(err, cluster.ErrNickHeld) {
			t.Fatalf("b claiming %s, held on a: %v", nick, err)
		}
	}
	if holder, _, err := b.NickHolder(ctx, "alice"); err != nil || !slices.Equal(holder.Nodes, []string{"b"}) {
		t.Fatalf("alice after a's recovery: held by %v (%v), want b", holder.Nodes, err)
	}
	must(t, a.ClaimNick(ctx, "dave", cluster.Claim{Session: 4}))
	st := a.Stats()
	if st.SoftPeriods == 0 || st.Lapses != 1 || st.NicksLost != 1 || st.Fences != 0 {
		t.Fatalf("a's stats: %+v; want a soft period, one lapse, one nick lost, no fence", st)
	}
}

// A node cut off from the bus fences itself: its sessions close before
// its lease can end and the others give its nicks away.
func TestNodeFencesItselfCutOffFromTheBus(t *testing.T) {
	srv := natstest.Start(t)
	a := joinAs(t, srv.URL(), "a", 3*time.Second, 1)
	fenced := make(chan time.Time, 1)
	a.OnFence(func() { fenced <- time.Now() })
	cut := time.Now()
	srv.Shutdown()
	at := await(t, fenced, "a fencing itself without the bus")
	if took := at.Sub(cut); took >= 3*time.Second {
		t.Fatalf("a fenced itself %v after it was cut off, want before its 3 s lease ends", took)
	}
	if a.Live() || !a.Fenced() {
		t.Fatalf("cut off: live %v, fenced %v", a.Live(), a.Fenced())
	}
}

// A claim naming a node that none of its sessions holds (its release
// failed) is dropped by the node's periodic check once it has stayed so
// for a while; the claims its sessions hold stay.
func TestNodeDropsClaimsNoSessionHolds(t *testing.T) {
	srv := natstest.Start(t)
	a := joinAs(t, srv.URL(), "a", 3*time.Second, 1)
	b := joinAs(t, srv.URL(), "b", 3*time.Second, 1)
	ctx := context.Background()
	here := newSessions(cluster.HeldNick{Fold: "alice", Claim: cluster.Claim{Session: 1}})
	must(t, a.ClaimNick(ctx, "alice", cluster.Claim{Session: 1}))
	must(t, a.ClaimNick(ctx, "ghost", cluster.Claim{Session: 2}))
	a.KeepClaims(here, 100*time.Millisecond)
	eventually(t, "the unheld claim dropped", func() bool { return a.Stats().StaleClaims == 1 })
	must(t, b.ClaimNick(ctx, "ghost", cluster.Claim{Session: 3}))
	if err := b.ClaimNick(ctx, "alice", cluster.Claim{Session: 4}); !errors.Is(err, cluster.ErrNickHeld) {
		t.Fatalf("b claiming alice, held on a: %v", err)
	}
}

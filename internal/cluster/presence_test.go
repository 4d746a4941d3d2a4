package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/tertulia/tertulia/internal/cluster"
	"github.com/tertulia/tertulia/internal/cluster/natstest"
)

// presenceUpdate is one call of a Presence's apply.
type presenceUpdate struct {
	room, node string
	payload    string
	gone       bool
}

func startPresence(t *testing.T, n *cluster.Node, read func(string) []byte) (*cluster.Presence, <-chan presenceUpdate) {
	t.Helper()
	updates := make(chan presenceUpdate, 64)
	p := n.NewPresence()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := p.Start(ctx, read, func(room, node string, payload []byte) {
		updates <- presenceUpdate{room: room, node: node, payload: string(payload), gone: payload == nil}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, updates
}

func nextUpdate(t *testing.T, updates <-chan presenceUpdate, what string) presenceUpdate {
	t.Helper()
	select {
	case u := <-updates:
		return u
	case <-time.After(wait):
		t.Fatalf("no presence update: %s", what)
		return presenceUpdate{}
	}
}

// One node's list of a room reaches the other; a newer list replaces it;
// when the first node dies (its connection to NATS lost, its lease left
// to run out) the other sees its entry gone within about the lease time,
// and a node that joins afterwards finds nothing of it.
func TestPresenceSharedAndDroppedWithTheLease(t *testing.T) {
	srv := natstest.Start(t)
	const ttl = 1500 * time.Millisecond
	a, b := join(t, srv.URL(), "a", ttl), join(t, srv.URL(), "b", ttl)
	list := make(chan string, 1)
	list <- "alice"
	current := "alice"
	read := func(room string) []byte {
		select {
		case current = <-list:
		default:
		}
		return []byte(current)
	}
	pa, _ := startPresence(t, a, read)
	pb, updates := startPresence(t, b, func(string) []byte { return []byte("[]") })

	pa.Changed("lobby")
	if u := nextUpdate(t, updates, "a's list"); u != (presenceUpdate{room: "lobby", node: "a", payload: "alice"}) {
		t.Fatalf("first update: %+v", u)
	}
	list <- "alice,bob"
	pa.Changed("lobby")
	if u := nextUpdate(t, updates, "a's new list"); u.payload != "alice,bob" {
		t.Fatalf("second update: %+v", u)
	}
	if snap := pb.Snapshot("lobby"); string(snap["a"]) != "alice,bob" || len(snap) != 1 {
		t.Fatalf("b's snapshot: %q", snap)
	}

	died := time.Now()
	a.Conn().Close()
	u := nextUpdate(t, updates, "a's entry gone")
	took := time.Since(died)
	t.Logf("a's entry gone %v after it lost NATS (lease %v)", took, ttl)
	if !u.gone || u.node != "a" || u.room != "lobby" {
		t.Fatalf("update once a died: %+v", u)
	}
	if took > 2*ttl+time.Second {
		t.Fatalf("a's entry went %v after it died, lease %v", took, ttl)
	}
	if snap := pb.Snapshot("lobby"); len(snap) != 0 {
		t.Fatalf("b's snapshot once a died: %q", snap)
	}
	c := join(t, srv.URL(), "c", ttl)
	pc, _ := startPresence(t, c, func(string) []byte { return []byte("[]") })
	if snap := pc.Snapshot("lobby"); len(snap) != 0 {
		t.Fatalf("a later node's snapshot: %q", snap)
	}
}

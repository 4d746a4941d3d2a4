package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/tertulia/tertulia/internal/cluster"
	"github.com/tertulia/tertulia/internal/health"
	"github.com/tertulia/tertulia/internal/metrics"
	"github.com/tertulia/tertulia/internal/room"
	"github.com/tertulia/tertulia/internal/store"
)

// joinCluster joins the cluster named by cfg.Cluster, if any: nil, nil
// for a single node.
func (a *App) joinCluster(ctx context.Context) (*cluster.Node, error) {
	if a.cfg.Cluster == "" {
		return nil, nil
	}
	node, err := cluster.Join(ctx, cluster.Config{URLs: ParseList(a.cfg.Cluster), NodeID: a.cfg.NodeID, Replicas: a.cfg.Replicas(), Log: a.log})
	if err != nil {
		return nil, err
	}
	a.log.Info("cluster joined", "node", a.cfg.NodeID, "nats", redactURLs(ParseList(a.cfg.Cluster)), "replicas", a.cfg.Replicas())
	return node, nil
}

// redactURLs hides the passwords of NATS URLs (nats://user:password@host),
// for the log.
func redactURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = u
		if p, err := url.Parse(u); err == nil {
			out[i] = p.Redacted()
		}
	}
	return out
}

// clusterReady is the "cluster" readiness check: this node holds its
// lease.
func clusterReady(node *cluster.Node) health.Check {
	return health.Check{Name: "cluster", Func: func(context.Context) error {
		if !node.Live() {
			return errors.New("this node does not hold its cluster lease")
		}
		return nil
	}}
}

// clusterStats reads the node's bus counters for the metrics.
func clusterStats(node *cluster.Node) func() metrics.ClusterStats {
	return func() metrics.ClusterStats {
		s := node.Stats()
		return metrics.ClusterStats{
			Published: s.Published, Received: s.Received, Gaps: s.Gaps,
			CatchUpEntries: s.CatchUpEntries, CatchUpFailures: s.CatchUpFailures,
			Disconnects: s.Disconnects, Connected: s.Connected, LeaseHeld: s.LeaseHeld,
			Fences: s.Fences, SoftPeriods: s.SoftPeriods, Lapses: s.Lapses, NicksLost: s.NicksLost, StaleClaims: s.StaleClaims,
		}
	}
}

// clusterBus is the room hub's Bus over a cluster node: entries travel as
// cluster.Entry values whose payload is entryPayload, and what the bus
// lost is read from the shared store.
type clusterBus struct {
	node    *cluster.Node
	entries store.EntryReader
}

var _ room.Bus = (*clusterBus)(nil)

func newClusterBus(node *cluster.Node, st store.Store) (*clusterBus, error) {
	entries, ok := st.(store.EntryReader)
	if !ok {
		return nil, fmt.Errorf("cluster: the store cannot read entries back (%T)", st)
	}
	return &clusterBus{node: node, entries: entries}, nil
}

// entryPayload is what the bus carries of a stored entry, enough to
// rebuild its event on every node.
type entryPayload struct {
	Kind string    `json:"kind"`
	From string    `json:"from"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
	ID   int64     `json:"id"`
}

func entryOf(m store.Message) (cluster.Entry, error) {
	payload, err := json.Marshal(entryPayload{Kind: m.Kind, From: m.From, Text: m.Text, Time: m.Time, ID: m.ID})
	if err != nil {
		return cluster.Entry{}, err
	}
	return cluster.Entry{Room: m.Room, ID: m.ID, Prev: m.Prev, Payload: payload}, nil
}

func messageOf(e cluster.Entry) (store.Message, bool) {
	var p entryPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil || p.ID != e.ID {
		return store.Message{}, false
	}
	return store.Message{ID: e.ID, Prev: e.Prev, Room: e.Room, Kind: p.Kind, From: p.From, Text: p.Text, Time: p.Time}, true
}

// fetch reads up to limit of room's entries after the given ID from the
// store: one page of a catch-up.
func (b *clusterBus) fetch(ctx context.Context, room string, after int64, limit int) ([]cluster.Entry, error) {
	page, err := b.entries.EntriesAfter(ctx, room, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]cluster.Entry, 0, len(page))
	for _, m := range page {
		e, err := entryOf(m)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (b *clusterBus) Follow(roomName string, last int64, deliver func(store.Message)) (room.Feed, error) {
	f, err := b.node.Follow(roomName, last, b.fetch, func(e cluster.Entry) {
		if m, ok := messageOf(e); ok {
			deliver(m)
		}
	})
	if err != nil {
		return nil, err
	}
	return clusterFeed{f}, nil
}

// Live: the hub stores no message while this node has lost its lease.
func (b *clusterBus) Live() bool { return b.node.Live() }

func (b *clusterBus) Publish(m store.Message) error {
	e, err := entryOf(m)
	if err != nil {
		return err
	}
	return b.node.PublishEntry(e)
}

type clusterFeed struct{ f *cluster.RoomFeed }

func (c clusterFeed) Offer(m store.Message) {
	if e, err := entryOf(m); err == nil {
		c.f.Offer(e)
	}
}

func (c clusterFeed) Stop() { c.f.Stop() }

// claimTimeout bounds one nick claim or release on the bus.
const claimTimeout = 3 * time.Second

// clusterClaims is the hub's NickClaims over a cluster node.
type clusterClaims struct {
	node *cluster.Node
	log  *slog.Logger
}

var _ room.NickClaims = clusterClaims{}

func (c clusterClaims) ClaimNick(fold string, claim room.NickClaim) error {
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	err := c.node.ClaimNick(ctx, fold, cluster.Claim{Fingerprint: claim.Fingerprint, Session: claim.Session})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrNickHeld):
		return room.ErrNickHeldElsewhere
	default:
		return errors.Join(room.ErrClaimsUnavailable, err)
	}
}

func (c clusterClaims) ReleaseNick(fold string, claim room.NickClaim) {
	if c.node.Fenced() {
		// The fence closed every session; their claims are dropped when
		// the node takes its lease again.
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	// Tried even when the lease is late but not yet lost: dropping this
	// node from a claim is a compare-and-set, safe at any time, and a
	// claim left behind by a live node would hold its nick for good.
	if err := c.node.ReleaseNick(ctx, fold, cluster.Claim{Fingerprint: claim.Fingerprint, Session: claim.Session}); err != nil {
		c.log.Warn("cluster: nick release failed", "err", err)
	}
}

// claimCheckEvery is how often a node looks for nick claims naming it that
// none of its sessions holds (their release failed while the bus was
// away), to drop them.
const claimCheckEvery = 30 * time.Second

// hubHolder is the cluster node's view of what the hub's sessions hold.
type hubHolder struct{ hub *room.Hub }

var _ cluster.Holder = hubHolder{}

func (h hubHolder) HeldNicks() []cluster.HeldNick { return clusterHeld(h.hub.HeldNicks()) }

func (h hubHolder) SettleNicks() []cluster.HeldNick { return clusterHeld(h.hub.SettleNicks()) }

func (h hubHolder) NickLost(fold string) { h.hub.CloseNick(fold, room.ReasonNickTakenElsewhere) }

func clusterHeld(held []room.HeldNick) []cluster.HeldNick {
	out := make([]cluster.HeldNick, len(held))
	for i, n := range held {
		out[i] = cluster.HeldNick{Fold: n.Fold, Claim: cluster.Claim{Fingerprint: n.Claim.Fingerprint, Session: n.Claim.Session}}
	}
	return out
}

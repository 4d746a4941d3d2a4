// Package cluster lets several Tertulia nodes share rooms through NATS
// (core subjects for live events, JetStream key-value buckets for node
// leases and nick claims). It knows nothing of rooms' contents: the hub
// hands it opaque payloads and gets them back in order.
//
// Subjects and buckets (every name starts with "tertulia"):
//
//	tertulia.room.<hex room>   stored room entries (Entry, JSON)
//	tertulia.ctl.<kind>        broadcasts: bans, kicks, settings...
//	tertulia.node.<id>.<svc>   requests to one node (Request, Serve): pm, whois, kick
//	tertulia_nodes (KV)        one key per live node, TTL = lease
//	tertulia_nicks (KV)        one key per connected nick (hex of its fold)
package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config is a node's view of the cluster.
type Config struct {
	// URLs of the NATS servers (nats://host:4222); at least one.
	URLs []string
	// NodeID names this node; unique in the cluster.
	NodeID string
	// LeaseTTL is how long a node that stops renewing its lease is still
	// taken as alive (default 5 s). It renews every third of it and fences
	// itself (Live reports false) after two thirds without a renewal.
	LeaseTTL time.Duration
	// Replicas of the key-value buckets: 1 with one NATS server, 3 in a
	// three-server NATS cluster.
	Replicas int
	Log      *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultLeaseTTL is Config.LeaseTTL's default: a dead node's members
// must be seen to leave everywhere within 6 s of its death, which comes up
// to a renewal period (a third of the TTL) after its last renewal, and
// the bucket takes a moment to expire the key.
const DefaultLeaseTTL = 5 * time.Second

// Errors.
var (
	// ErrUnavailable: the bus cannot be reached, or this node has fenced
	// itself; a nick claim fails closed and the user is asked to try again.
	ErrUnavailable = errors.New("the cluster cannot be reached; try again")
	// ErrNickHeld: another person on some node holds the nick.
	ErrNickHeld = errors.New("nick held on another node")
)

// Node is this process's membership of the cluster.
type Node struct {
	cfg   Config
	log   *slog.Logger
	nc    *nats.Conn
	js    jetstream.JetStream
	nodes jetstream.KeyValue
	nicks jetstream.KeyValue
	stats *nodeStats

	mu      sync.Mutex
	renewed time.Time // the last successful lease renewal
	fenced  bool
	onFence []func()

	stop chan struct{}
	done chan struct{}
}

// Join connects to NATS, creates the buckets if needed, takes this node's
// lease and keeps renewing it until Close.
func Join(ctx context.Context, cfg Config) (*Node, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("cluster: no NATS URL")
	}
	if cfg.NodeID == "" || !validKey(cfg.NodeID) {
		return nil, fmt.Errorf("cluster: node id %q: use letters, digits, '-' and '_'", cfg.NodeID)
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	stats := &nodeStats{}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","),
		nats.Name("tertulia "+cfg.NodeID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { stats.disconnects.Add(1) }))
	if err != nil {
		return nil, fmt.Errorf("cluster: connect: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Log.With("node", cfg.NodeID), nc: nc, stats: stats, stop: make(chan struct{}), done: make(chan struct{})}
	if err := n.open(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	go n.keepLease()
	return n, nil
}

func (n *Node) open(ctx context.Context) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return err
	}
	n.js = js
	n.nodes, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: "tertulia_nodes", TTL: n.cfg.LeaseTTL, LimitMarkerTTL: n.cfg.LeaseTTL,
		Storage: jetstream.MemoryStorage, Replicas: n.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("cluster: nodes bucket: %w", err)
	}
	n.nicks, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: "tertulia_nicks", Storage: jetstream.FileStorage, Replicas: n.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("cluster: nicks bucket: %w", err)
	}
	if _, err := n.nodes.Create(ctx, n.cfg.NodeID, []byte(n.cfg.Now().UTC().Format(time.RFC3339))); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("cluster: node id %q is in use by a live node", n.cfg.NodeID)
		}
		return fmt.Errorf("cluster: lease: %w", err)
	}
	// A node that starts again under its id (after a crash) has none of
	// its old sessions: their claims would keep those nicks from everyone.
	if err := n.dropStaleClaims(ctx); err != nil {
		return fmt.Errorf("cluster: nick claims of a previous run: %w", err)
	}
	// Written again now: the clean-up may have taken a good part of the
	// lease created above, and the lease counts from the time taken
	// before its write.
	sent := n.cfg.Now()
	if _, err := n.nodes.Put(ctx, n.cfg.NodeID, []byte(sent.UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("cluster: lease: %w", err)
	}
	n.mu.Lock()
	n.renewed = sent
	n.mu.Unlock()
	return nil
}

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// Conn is the NATS connection, for the bus's subscriptions.
func (n *Node) Conn() *nats.Conn { return n.nc }

// Live says whether this node holds its lease: it renewed it within two
// thirds of the TTL. Anything that must not happen twice in the cluster (a
// nick held) checks it at the moment it acts, since a stopped process
// resumes before its lease loop notices the time that passed.
func (n *Node) Live() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.fenced && n.cfg.Now().Sub(n.renewed) < n.fenceAfter()
}

// Fenced says whether the node has fenced itself (its sessions were
// closed) and not yet taken its lease again.
func (n *Node) Fenced() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fenced
}

func (n *Node) fenceAfter() time.Duration { return n.cfg.LeaseTTL * 2 / 3 }

// OnFence registers fn, called (from the lease loop) when this node loses
// its lease: the hub disconnects its sessions, whose nicks others may now
// take.
func (n *Node) OnFence(fn func()) {
	n.mu.Lock()
	n.onFence = append(n.onFence, fn)
	n.mu.Unlock()
}

// retryLease is how soon a failed renewal is tried again: after a NATS
// server's death JetStream elects the bucket's new leader within seconds,
// and the sooner the lease is renewed then, the sooner the node serves
// again.
const retryLease = 250 * time.Millisecond

// keepLease renews the lease every third of the TTL, and every retryLease
// while renewals fail. A renewal that comes too late (the process was
// stopped, the bus was away) fences the node first; it rejoins with a
// fresh lease.
func (n *Node) keepLease() {
	defer close(n.done)
	timer := time.NewTimer(n.cfg.LeaseTTL / 3)
	defer timer.Stop()
	failing := false
	for {
		select {
		case <-n.stop:
			return
		case <-timer.C:
		}
		ok := n.renew(failing)
		if ok && failing {
			n.log.Info("cluster lease renewed again")
		}
		failing = !ok
		if failing {
			timer.Reset(retryLease)
		} else {
			timer.Reset(n.cfg.LeaseTTL / 3)
		}
	}
}

// renew fences the node if its last renewal is too old, then renews the
// lease; it says whether the renewal went through.
func (n *Node) renew(failing bool) bool {
	n.mu.Lock()
	late := !n.fenced && n.cfg.Now().Sub(n.renewed) >= n.fenceAfter()
	if late {
		n.fenced = true
	}
	hooks := n.onFence
	n.mu.Unlock()
	if late {
		n.log.Warn("cluster lease lost: disconnecting this node's sessions")
		for _, fn := range hooks {
			fn()
		}
	}
	n.mu.Lock()
	fenced := n.fenced
	n.mu.Unlock()
	if fenced {
		// The fence closed every session of this node, but the bus may
		// not have taken their releases: once this node is live again
		// those claims would hold their nicks for good. Dropped before
		// the lease is written (nothing is claimed here while fenced), so
		// that the time this takes does not eat into the new lease.
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/2)
		err := n.dropStaleClaims(ctx)
		cancel()
		if err != nil {
			if !failing {
				n.log.Warn("cluster: dropping the nick claims of closed sessions failed", "err", err)
			}
			return false
		}
	}
	// Taken before the write, so that the lease is never thought younger
	// than the bucket's copy of it.
	sent := n.cfg.Now()
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/3)
	_, err := n.nodes.Put(ctx, n.cfg.NodeID, []byte(sent.UTC().Format(time.RFC3339)))
	cancel()
	if err != nil {
		if !failing {
			n.log.Warn("cluster lease renewal failed; trying again", "err", err)
		}
		return false
	}
	if fenced {
		n.log.Info("cluster lease taken again")
	}
	n.mu.Lock()
	n.fenced, n.renewed = false, sent
	n.mu.Unlock()
	return true
}

// NodeAlive says whether the node id holds a lease.
func (n *Node) NodeAlive(ctx context.Context, id string) (bool, error) {
	_, err := n.nodes.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// WatchNodes calls fn for each node that appears or whose lease ends, until
// ctx ends.
func (n *Node) WatchNodes(ctx context.Context, fn func(id string, alive bool)) error {
	w, err := n.nodes.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return err
	}
	go func() {
		defer w.Stop()
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			fn(e.Key(), e.Operation() == jetstream.KeyValuePut)
		}
	}()
	return nil
}

// Close gives the lease back (others see this node leave at once) and
// disconnects.
func (n *Node) Close() {
	close(n.stop)
	<-n.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = n.nodes.Purge(ctx, n.cfg.NodeID)
	cancel()
	n.nc.Close()
}

// validKey: a key-value key and a subject token.
func validKey(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// token is a name as one subject token or key: hex, so any name fits.
func token(name string) string { return hex.EncodeToString([]byte(name)) }

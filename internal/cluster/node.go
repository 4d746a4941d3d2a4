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
	"crypto/rand"
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
	// StartTimeout bounds Join and Presence.Start when their context has
	// no earlier deadline (default DefaultStartTimeout): until then they
	// retry what JetStream refuses or leaves unanswered.
	StartTimeout time.Duration
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
	// run tells this process's lease writes from those of an earlier run
	// under the same id.
	run string

	mu sync.Mutex
	// confirmed is when the last confirmed core NATS round trip was sent:
	// a node that cannot confirm one for two thirds of the TTL is cut off
	// from the bus (or was stopped) and fences itself.
	confirmed time.Time
	renewed   time.Time // when the last successful lease write was sent
	leaseRev  uint64    // the lease key's revision after that write
	fenced    bool
	// lapsed: the lease key expired while renewals failed (JetStream
	// was electing a leader) and is being taken again; the node is not
	// live until its claims and presence are written again (recover).
	lapsed bool
	// lapses counts the lapses found; recovering: a reclaim runs (in its
	// own goroutine, so that the lease is renewed meanwhile), started at
	// lapse number recoverFrom.
	lapses      uint64
	recovering  bool
	recoverWG   sync.WaitGroup
	softSince   time.Time // when the lapse was found
	softCounted bool      // this stretch of failed renewals is counted
	onFence     []func()
	onRecover   []func(context.Context) error
	holder      Holder

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
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	stats := &nodeStats{}
	n := &Node{cfg: cfg, log: cfg.Log.With("node", cfg.NodeID), stats: stats, run: rand.Text(),
		stop: make(chan struct{}), done: make(chan struct{})}
	// One deadline for the whole start-up: the connection, then JetStream.
	ctx, cancel := n.startContext(ctx)
	defer cancel()
	nc, err := n.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect: %w", err)
	}
	n.nc = nc
	if err := n.open(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	go n.keepLease()
	return n, nil
}

// connect connects to NATS, trying again until the start-up deadline
// (ctx): a node started with (or just before) its NATS servers waits for
// them rather than failing at once. Refused credentials are not tried
// again. Once connected, a lost connection is re-established for ever.
func (n *Node) connect(ctx context.Context) (*nats.Conn, error) {
	var nc *nats.Conn
	err := retryStart(ctx, n.log, n.cfg.LeaseTTL, awaitNATS, "connection", func(context.Context) (err error) {
		nc, err = nats.Connect(strings.Join(n.cfg.URLs, ","),
			nats.Name("tertulia "+n.cfg.NodeID),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(250*time.Millisecond),
			// Tried again here, with the start-up's deadline and logs.
			nats.RetryOnFailedConnect(false),
			nats.DisconnectErrHandler(func(*nats.Conn, error) { n.stats.disconnects.Add(1) }))
		if isAuthError(err) {
			return permanent(err)
		}
		return err
	})
	return nc, err
}

// isAuthError tells whether NATS refused the node's credentials, which
// trying again does not mend.
func isAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

// open creates the buckets, takes the lease and drops the claims of an
// earlier run, each step tried again until the start-up deadline (ctx).
func (n *Node) open(ctx context.Context) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return err
	}
	n.js = js
	if err := n.startStep(ctx, "nodes bucket", func(ctx context.Context) (err error) {
		n.nodes, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: "tertulia_nodes", TTL: n.cfg.LeaseTTL, LimitMarkerTTL: n.cfg.LeaseTTL,
			Storage: jetstream.MemoryStorage, Replicas: n.cfg.Replicas,
		})
		return err
	}); err != nil {
		return fmt.Errorf("cluster: nodes bucket: %w", err)
	}
	if err := n.startStep(ctx, "nicks bucket", func(ctx context.Context) (err error) {
		n.nicks, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: "tertulia_nicks", Storage: jetstream.FileStorage, Replicas: n.cfg.Replicas,
		})
		return err
	}); err != nil {
		return fmt.Errorf("cluster: nicks bucket: %w", err)
	}
	if err := n.startStep(ctx, "lease", n.createLease); err != nil {
		var perm errPermanent
		if errors.As(err, &perm) {
			return fmt.Errorf("cluster: %w", err)
		}
		return fmt.Errorf("cluster: lease: %w", err)
	}
	// A node that starts again under its id (after a crash) has none of
	// its old sessions: their claims would keep those nicks from everyone.
	if err := n.startStep(ctx, "nick claims of a previous run", n.dropStaleClaims); err != nil {
		return fmt.Errorf("cluster: nick claims of a previous run: %w", err)
	}
	// Written again now: the clean-up may have taken a good part of the
	// lease created above, and the lease counts from the time taken
	// before its write.
	err = n.startStep(ctx, "lease", func(ctx context.Context) error {
		sent := n.cfg.Now()
		rev, err := n.nodes.Put(ctx, n.cfg.NodeID, n.leaseValue(sent))
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.renewed, n.confirmed, n.leaseRev = sent, sent, rev
		n.mu.Unlock()
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: lease: %w", err)
	}
	return nil
}

// createLease creates this node's lease key. A key written by this very
// run is an earlier attempt whose answer was lost; any other means the id
// is in use.
func (n *Node) createLease(ctx context.Context) error {
	_, err := n.nodes.Create(ctx, n.cfg.NodeID, n.leaseValue(n.cfg.Now()))
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	cur, gerr := n.nodes.Get(ctx, n.cfg.NodeID)
	switch {
	case gerr == nil && n.writtenByThisRun(cur.Value()):
		return nil
	case gerr == nil:
		return permanent(fmt.Errorf("node id %q is in use by a live node", n.cfg.NodeID))
	case errors.Is(gerr, jetstream.ErrKeyNotFound):
		return err // expired meanwhile: created on the next attempt
	default:
		return gerr
	}
}

// leaseValue is what a lease write stores: when it was sent, and this
// process's run.
func (n *Node) leaseValue(sent time.Time) []byte {
	return []byte(sent.UTC().Format(time.RFC3339Nano) + " " + n.run)
}

// writtenByThisRun tells whether a lease value is one of this process's.
func (n *Node) writtenByThisRun(value []byte) bool {
	_, run, _ := strings.Cut(string(value), " ")
	return run == n.run
}

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// Conn is the NATS connection, for the bus's subscriptions.
func (n *Node) Conn() *nats.Conn { return n.nc }

// Live says whether this node holds its lease: it renewed it within two
// thirds of the TTL (and, if the lease lapsed meanwhile, has written its
// claims and presence again). Anything that must not happen twice in the
// cluster (a nick held) checks it at the moment it acts, since a stopped
// process resumes before its lease loop notices the time that passed.
func (n *Node) Live() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.cfg.Now()
	return !n.fenced && !n.lapsed && now.Sub(n.renewed) < n.fenceAfter() && now.Sub(n.confirmed) < n.fenceAfter()
}

// Fenced says whether the node has fenced itself (its sessions were
// closed: it was cut off from the bus, or stopped) and not yet taken its
// lease again. A node that is neither live nor fenced keeps its sessions:
// the bus answers but its lease could not be renewed (JetStream electing
// a leader after a NATS server's death).
func (n *Node) Fenced() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fenced
}

func (n *Node) fenceAfter() time.Duration { return n.cfg.LeaseTTL * 2 / 3 }

// OnFence registers fn, called (from the lease loop) when this node fences
// itself: the hub disconnects its sessions, whose nicks others may now
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

// maxSoft is the longest a node keeps its sessions while its lease cannot
// be renewed (or its claims written again) although the bus answers:
// longer than JetStream takes to elect a leader (4 to 9 s). Past it the
// node fences itself as if cut off: the NATS server it talks to may be on
// the minority side of a partition, where core round trips work and
// JetStream never does.
func (n *Node) maxSoft() time.Duration { return 3 * n.cfg.LeaseTTL }

// keepLease renews the lease every third of the TTL, and every retryLease
// while renewals fail. A node that could not confirm a round trip on the
// bus for two thirds of the TTL (the bus was away, the process was
// stopped) fences itself first; it rejoins with a fresh lease.
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

// renew fences the node if its last confirmed round trip on the bus is too
// old, confirms one, then renews the lease. It says whether the renewal
// went through. After a lapse it starts writing the node's claims and
// presence again.
func (n *Node) renew(failing bool) bool {
	n.fenceIfLate()
	// A core round trip, timed from before it is sent so that it is never
	// thought younger than it is. It is given until the node would fence
	// itself (at least a sixth of the TTL): on a busy connection the answer
	// comes behind everything queued before it, and a round trip answered
	// late but in time is still one.
	sent := n.cfg.Now()
	n.mu.Lock()
	wait := max(n.fenceAfter()-sent.Sub(n.confirmed), n.cfg.LeaseTTL/6)
	n.mu.Unlock()
	if err := n.nc.FlushTimeout(wait); err != nil {
		if !failing {
			n.log.Warn("cluster: the bus does not answer; trying again", "err", err)
		}
		return false
	}
	// A process stopped during the round trip finds it answered: the
	// time it was stopped still counts.
	if n.fenceIfLate() {
		return false
	}
	n.mu.Lock()
	if sent.After(n.confirmed) {
		n.confirmed = sent
	}
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
	sent = n.cfg.Now()
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL/3)
	err := n.writeLease(ctx, sent)
	cancel()
	if err != nil {
		n.mu.Lock()
		soft := !n.fenced && !n.softCounted && n.cfg.Now().Sub(n.renewed) >= n.fenceAfter()
		if soft {
			n.softCounted = true
		}
		n.mu.Unlock()
		if soft {
			// Not live, but the sessions stay: others may give its nicks
			// away only once the lease has expired, which the next write
			// finds out.
			n.stats.softPeriods.Add(1)
			n.log.Warn("cluster lease not renewed while the bus answers: refusing claims and messages until it is; sessions kept")
		} else if !failing {
			n.log.Warn("cluster lease renewal failed; trying again", "err", err)
		}
		return false
	}
	// Likewise during the write: it must not count as a fresh lease.
	if n.fenceIfLate() {
		return false
	}
	n.mu.Lock()
	n.renewed, n.softCounted = sent, false
	if sent.After(n.confirmed) {
		n.confirmed = sent
	}
	if fenced {
		n.fenced, n.lapsed = false, false
	}
	lapsed := n.lapsed
	n.mu.Unlock()
	if fenced {
		n.log.Info("cluster lease taken again")
	}
	if !lapsed {
		return true
	}
	// Written again beside the lease loop, which goes on renewing the
	// lease meanwhile: with many nicks this takes longer than a lease.
	n.startRecover()
	return true
}

// fenceIfLate fences the node (its sessions are closed) if its last
// confirmed round trip on the bus is two thirds of the TTL old (it was cut
// off, or its process stopped), or its lease could not be renewed for
// maxSoft although the bus answered; it says whether it did.
func (n *Node) fenceIfLate() bool {
	n.mu.Lock()
	now := n.cfg.Now()
	cutOff := !n.fenced && now.Sub(n.confirmed) >= n.fenceAfter()
	tooLong := !n.fenced && (now.Sub(n.renewed) >= n.maxSoft() || n.lapsed && now.Sub(n.softSince) >= n.maxSoft())
	if cutOff || tooLong {
		n.fenced, n.lapsed = true, false
	}
	hooks := n.onFence
	n.mu.Unlock()
	if !cutOff && !tooLong {
		return false
	}
	if cutOff {
		n.log.Warn("cluster: no round trip on the bus for too long: disconnecting this node's sessions")
	} else {
		n.log.Warn("cluster lease not renewed for too long although the bus answers: disconnecting this node's sessions")
	}
	n.stats.fences.Add(1)
	for _, fn := range hooks {
		fn()
	}
	return true
}

// writeLease renews the lease written last at revision leaseRev, with a
// compare-and-set: if the key is not at that revision it either expired
// (the new leader of the bucket expires a key older than the TTL at once:
// the other nodes saw this one die) or a write whose answer was lost went
// through. An expired key is created again and the node marked lapsed.
func (n *Node) writeLease(ctx context.Context, sent time.Time) error {
	n.mu.Lock()
	rev := n.leaseRev
	n.mu.Unlock()
	value := n.leaseValue(sent)
	id := n.cfg.NodeID
	if rev != 0 {
		next, err := n.nodes.Update(ctx, id, value, rev)
		if err == nil {
			n.setLeaseRev(next)
			return nil
		}
		if !isRevisionMismatch(err) && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
	}
	cur, err := n.nodes.Get(ctx, id)
	switch {
	case err == nil && n.writtenByThisRun(cur.Value()):
		// A write of this process went through unanswered: the key was
		// never gone.
		next, err := n.nodes.Update(ctx, id, value, cur.Revision())
		if err != nil {
			return err
		}
		n.setLeaseRev(next)
		return nil
	case err == nil:
		return fmt.Errorf("cluster: node id %q is held by another process", id)
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return err
	}
	// Marked before the key is created: if the answer is lost, the next
	// write finds this process's key and must not take it as never gone.
	n.mu.Lock()
	if !n.fenced {
		n.lapses++
	}
	if !n.fenced && !n.lapsed {
		n.lapsed, n.softSince = true, n.cfg.Now()
		n.stats.lapses.Add(1)
		n.log.Warn("cluster lease lapsed while it could not be renewed: others saw this node leave; taking it again")
	}
	n.mu.Unlock()
	next, err := n.nodes.Create(ctx, id, value)
	if err != nil {
		return err
	}
	n.setLeaseRev(next)
	return nil
}

func (n *Node) setLeaseRev(rev uint64) {
	n.mu.Lock()
	n.leaseRev = rev
	n.mu.Unlock()
}

// OnRecover registers fn, called (from the lease loop) when this node has
// taken its lease again after it lapsed while the node kept its sessions:
// the others saw its members leave. The node is live again once every fn
// has returned nil; an error has it try again.
func (n *Node) OnRecover(fn func(context.Context) error) {
	n.mu.Lock()
	n.onRecover = append(n.onRecover, fn)
	n.mu.Unlock()
}

// recover writes again what the others dropped when they saw this node's
// lease end: its sessions' nick claims (a nick someone took meanwhile
// closes its sessions here), then the OnRecover hooks (presence).
func (n *Node) recover() error {
	ctx, cancel := context.WithTimeout(context.Background(), n.maxSoft())
	defer cancel()
	// Ended by Close, which waits for it.
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	n.mu.Lock()
	holder, hooks := n.holder, n.onRecover
	n.mu.Unlock()
	if holder != nil {
		if err := n.reclaim(ctx, holder); err != nil {
			return err
		}
	}
	for _, fn := range hooks {
		if err := fn(ctx); err != nil {
			return err
		}
	}
	return nil
}

// startRecover runs recover in its own goroutine unless one runs. The node
// is live again once a run succeeds with no lapse found meanwhile (then
// what it wrote may have been dropped again, and the next renewal starts
// another run); a fence ends the lapse by itself.
func (n *Node) startRecover() {
	n.mu.Lock()
	if n.recovering || !n.lapsed || n.fenced {
		n.mu.Unlock()
		return
	}
	n.recovering = true
	from := n.lapses
	n.recoverWG.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.recoverWG.Done()
		err := n.recover()
		n.mu.Lock()
		n.recovering = false
		done := err == nil && n.lapsed && !n.fenced && n.lapses == from
		if done {
			n.lapsed, n.softSince = false, time.Time{}
		}
		n.mu.Unlock()
		switch {
		case err != nil:
			n.log.Warn("cluster: writing this node's claims again after its lease lapsed failed; trying again", "err", err)
		case done:
			n.log.Info("cluster lease taken again after it lapsed; claims and presence written again")
		}
	}()
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
	n.recoverWG.Wait()
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

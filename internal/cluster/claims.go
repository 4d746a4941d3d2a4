package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// Claim says who holds a nick: the node, and the key for a registered
// person (whose sessions on several nodes share the nick) or the session
// for a guest.
type Claim struct {
	Node        string `json:"node"`
	Fingerprint string `json:"key,omitempty"`
	Session     uint64 `json:"session,omitempty"`
	// Nodes is every node where a key's person holds the nick (its
	// devices may be connected to several); Node is the first of them.
	Nodes []string `json:"nodes,omitempty"`
}

// holders is every node the claim names.
func (c Claim) holders() []string {
	if len(c.Nodes) > 0 {
		return c.Nodes
	}
	if c.Node != "" {
		return []string{c.Node}
	}
	return nil
}

// sameClaimant tells whether c and o are the same person: the same key,
// or the same guest session on the same node.
func (c Claim) sameClaimant(o Claim) bool {
	if c.Fingerprint != "" || o.Fingerprint != "" {
		return c.Fingerprint == o.Fingerprint
	}
	return c.Session == o.Session && c.Node == o.Node
}

// withNodes is c naming nodes as its holders (none: nil).
func (c Claim) withNodes(nodes []string) Claim {
	c.Nodes = nil
	c.Node = ""
	if len(nodes) > 0 {
		c.Node = nodes[0]
		c.Nodes = nodes
	}
	return c
}

func decodeClaim(data []byte) Claim {
	var held Claim
	if json.Unmarshal(data, &held) != nil {
		return Claim{}
	}
	return held
}

// ClaimNick takes the nick (its fold) for c, unique across the cluster:
// it succeeds if nobody holds it, if the same key holds it (another device
// of the same person, on this node or another: this node is added to the
// claim's holders), or if its holders' nodes have all lost their lease
// (the stale claim is replaced atomically). It fails closed:
// ErrUnavailable if this node is not live or the bus does not answer,
// ErrNickHeld if someone else holds it. A claim with both a key and a
// session takes over that guest session's claim here for the key (the
// person registered the nick).
func (n *Node) ClaimNick(ctx context.Context, fold string, c Claim) error {
	if !n.Live() {
		return ErrUnavailable
	}
	var asGuest uint64
	if c.Fingerprint != "" {
		asGuest, c.Session = c.Session, 0
	}
	c = c.withNodes([]string{n.cfg.NodeID})
	val, err := json.Marshal(c)
	if err != nil {
		return err
	}
	key := token(fold)
	for range 5 {
		_, err := n.nicks.Create(ctx, key, val)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return unavailable(err)
		}
		cur, err := n.nicks.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return unavailable(err)
		}
		held := decodeClaim(cur.Value())
		next := val
		switch {
		case asGuest != 0 && held.Fingerprint == "" && held.Session == asGuest && held.Node == n.cfg.NodeID:
			// The guest session's claim becomes its key's.
		case held.sameClaimant(c):
			holders := held.holders()
			if slices.Contains(holders, n.cfg.NodeID) {
				return nil
			}
			// The same person on another device here: this node holds
			// it too, so that it stays held while either is connected.
			if next, err = json.Marshal(held.withNodes(append(slices.Clone(holders), n.cfg.NodeID))); err != nil {
				return err
			}
		default:
			alive, err := n.anyAlive(ctx, held.holders())
			if err != nil {
				return unavailable(err)
			}
			if alive {
				return ErrNickHeld
			}
		}
		if _, err := n.nicks.Update(ctx, key, next, cur.Revision()); err == nil {
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) && !isRevisionMismatch(err) {
			return unavailable(err)
		}
		// Someone else changed the claim first: look again.
	}
	return ErrNickHeld
}

// anyAlive tells whether any of the nodes holds a lease.
func (n *Node) anyAlive(ctx context.Context, nodes []string) (bool, error) {
	for _, id := range nodes {
		alive, err := n.NodeAlive(ctx, id)
		if err != nil || alive {
			return alive, err
		}
	}
	return false, nil
}

// ReleaseNick gives the nick up if c (this node's) still holds it: a key's
// claim held on other nodes too stays theirs.
func (n *Node) ReleaseNick(ctx context.Context, fold string, c Claim) error {
	return n.dropHolder(ctx, token(fold), func(held Claim) bool {
		return held.sameClaimant(c.withNodes([]string{n.cfg.NodeID}))
	})
}

// dropHolder takes this node out of the claim under key if mine says the
// claim is this node's person's; the claim goes once no node holds it.
func (n *Node) dropHolder(ctx context.Context, key string, mine func(Claim) bool) error {
	for range 5 {
		cur, err := n.nicks.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return unavailable(err)
		}
		held := decodeClaim(cur.Value())
		holders := held.holders()
		if !mine(held) || !slices.Contains(holders, n.cfg.NodeID) {
			return nil
		}
		rest := slices.DeleteFunc(slices.Clone(holders), func(id string) bool { return id == n.cfg.NodeID })
		if len(rest) == 0 {
			err = n.nicks.Delete(ctx, key, jetstream.LastRevision(cur.Revision()))
		} else {
			var next []byte
			if next, err = json.Marshal(held.withNodes(rest)); err != nil {
				return err
			}
			_, err = n.nicks.Update(ctx, key, next, cur.Revision())
		}
		if err == nil {
			return nil
		}
		if !isRevisionMismatch(err) {
			return unavailable(err)
		}
		// Changed meanwhile (another device claimed or released it).
	}
	return unavailable(errors.New("the nick's claim kept changing"))
}

// dropStaleClaims takes this node out of every claim. Only for when it
// has no session: at start (claims naming this node are left from an
// earlier run whose lease ended) and when it takes its lease again after a
// fence (which closed every session, whose releases the bus may not have
// taken).
func (n *Node) dropStaleClaims(ctx context.Context) error {
	// One watcher reads every claim (a Get per key would be a round trip
	// per connected nick in the cluster).
	w, err := n.nicks.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return unavailable(err)
	}
	defer func() { _ = w.Stop() }()
	var mine []string
	for read := false; !read; {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return unavailable(ctx.Err())
			}
			if e == nil { // every current claim has been read
				read = true
				continue
			}
			if slices.Contains(decodeClaim(e.Value()).holders(), n.cfg.NodeID) {
				mine = append(mine, e.Key())
			}
		case <-ctx.Done():
			return unavailable(ctx.Err())
		}
	}
	for _, key := range mine {
		if err := n.dropHolder(ctx, key, func(Claim) bool { return true }); err != nil {
			return err
		}
	}
	if len(mine) > 0 {
		n.log.Info("cluster: dropped the nick claims of sessions gone", "claims", len(mine))
	}
	return nil
}

// NickHolder returns who holds the nick, if anyone whose node is alive:
// the claim's Nodes are then those of its holders that are alive.
func (n *Node) NickHolder(ctx context.Context, fold string) (Claim, bool, error) {
	cur, err := n.nicks.Get(ctx, token(fold))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Claim{}, false, nil
	}
	if err != nil {
		return Claim{}, false, unavailable(err)
	}
	held := decodeClaim(cur.Value())
	var alive []string
	for _, id := range held.holders() {
		ok, err := n.NodeAlive(ctx, id)
		if err != nil {
			return Claim{}, false, unavailable(err)
		}
		if ok {
			alive = append(alive, id)
		}
	}
	return held.withNodes(alive), len(alive) > 0, nil
}

func isRevisionMismatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

// unavailable wraps a bus error as ErrUnavailable, keeping its text.
func unavailable(err error) error {
	return errors.Join(ErrUnavailable, err)
}

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

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
	return n.claim(ctx, fold, c)
}

// claim is ClaimNick whether or not the node is live: for writing its
// sessions' claims again after its lease lapsed.
func (n *Node) claim(ctx context.Context, fold string, c Claim) error {
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
	return n.dropHolder(ctx, token(fold), func(held Claim, _ uint64) bool {
		return held.sameClaimant(c.withNodes([]string{n.cfg.NodeID}))
	})
}

// dropHolder takes this node out of the claim under key if mine says the
// claim (at its revision) is this node's person's; the claim goes once no
// node holds it.
func (n *Node) dropHolder(ctx context.Context, key string, mine func(held Claim, rev uint64) bool) error {
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
		if !mine(held, cur.Revision()) || !slices.Contains(holders, n.cfg.NodeID) {
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
	mine, err := n.claimsNamingThisNode(ctx)
	if err != nil {
		return err
	}
	for key := range mine {
		if err := n.dropHolder(ctx, key, func(Claim, uint64) bool { return true }); err != nil {
			return err
		}
	}
	if len(mine) > 0 {
		n.log.Info("cluster: dropped the nick claims of sessions gone", "claims", len(mine))
	}
	return nil
}

// claimsNamingThisNode reads every claim and returns the keys of those
// that name this node among their holders, with their revisions.
func (n *Node) claimsNamingThisNode(ctx context.Context) (map[string]uint64, error) {
	// One watcher reads every claim (a Get per key would be a round trip
	// per connected nick in the cluster).
	w, err := n.nicks.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, unavailable(err)
	}
	defer func() { _ = w.Stop() }()
	mine := map[string]uint64{}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, unavailable(ctx.Err())
			}
			if e == nil { // every current claim has been read
				return mine, nil
			}
			if slices.Contains(decodeClaim(e.Value()).holders(), n.cfg.NodeID) {
				mine[e.Key()] = e.Revision()
			}
		case <-ctx.Done():
			return nil, unavailable(ctx.Err())
		}
	}
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

// isRevisionMismatch tells whether err is a compare-and-set's conflict.
// Replicated buckets (three NATS servers) report it with another code
// (10164) than a single server's (10071).
func isRevisionMismatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		(errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant))
}

// unavailable wraps a bus error as ErrUnavailable, keeping its text.
func unavailable(err error) error {
	return errors.Join(ErrUnavailable, err)
}

// HeldNick is a nick this node's sessions hold, and how they claim it.
type HeldNick struct {
	Fold  string
	Claim Claim
}

// Holder is what this node's sessions hold (the hub), for keeping the
// cluster's claims in step with it.
type Holder interface {
	// HeldNicks lists the nicks held here.
	HeldNicks() []HeldNick
	// SettleNicks lists them too, and has every claim being made
	// meanwhile refused (given back), so that none kept escapes the
	// list.
	SettleNicks() []HeldNick
	// NickLost closes the sessions holding fold: someone else took it
	// while this node's lease had lapsed.
	NickLost(fold string)
}

// reclaim writes again the claims of the nicks this node's sessions hold,
// after its lease lapsed while it kept them: the others saw the node
// leave and may have given some away. A nick someone else took closes its
// sessions here; the others are claimed again where they are missing.
func (n *Node) reclaim(ctx context.Context, h Holder) error {
	held := h.SettleNicks()
	lost := 0
	for _, nick := range held {
		err := n.claim(ctx, nick.Fold, nick.Claim)
		if errors.Is(err, ErrNickHeld) {
			// Held here under another claimant (the session's claim was
			// just moving to its key): still this node's.
			if ours, gerr := n.claimNamesThisNode(ctx, token(nick.Fold)); gerr != nil {
				return gerr
			} else if ours {
				continue
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrNickHeld):
			h.NickLost(nick.Fold)
			lost++
		default:
			return err
		}
	}
	if lost > 0 {
		n.stats.nicksLost.Add(uint64(lost))
		n.log.Warn("cluster: nicks taken elsewhere while this node's lease had lapsed: their sessions here closed", "nicks", lost, "kept", len(held)-lost)
	}
	return nil
}

// claimNamesThisNode tells whether the claim under key names this node
// among its holders.
func (n *Node) claimNamesThisNode(ctx context.Context, key string) (bool, error) {
	cur, err := n.nicks.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, unavailable(err)
	}
	return slices.Contains(decodeClaim(cur.Value()).holders(), n.cfg.NodeID), nil
}

// claimSettle is how long a claim naming this node that no session here
// holds is left alone before it is dropped: a claim being made is held
// (or given back) well within it.
const claimSettle = 5 * time.Second

// maxDropsPerPass bounds the stale claims one pass of KeepClaims drops;
// the rest wait for the next.
const maxDropsPerPass = 100

// KeepClaims has h's nicks claimed again after a lapse of this node's
// lease (see recover), and every period drops the claims naming this node
// that none of h's sessions holds: releases the bus did not take (it
// failed while the session left) would keep those nicks from everyone for
// good. A claim is dropped only if it is seen unchanged and unheld for
// claimSettle, so that one being made is not.
func (n *Node) KeepClaims(h Holder, period time.Duration) {
	n.mu.Lock()
	n.holder = h
	n.mu.Unlock()
	go func() {
		timer := time.NewTimer(period)
		defer timer.Stop()
		var suspects map[string]suspectClaim
		for {
			select {
			case <-n.stop:
				return
			case <-timer.C:
			}
			if n.Live() {
				ctx, cancel := context.WithTimeout(context.Background(), period)
				next, err := n.dropUnheldClaims(ctx, h, suspects)
				cancel()
				if err != nil {
					n.log.Warn("cluster: checking this node's nick claims failed", "err", err)
				} else {
					suspects = next
				}
			}
			if len(suspects) > 0 {
				timer.Reset(min(period, claimSettle))
			} else {
				timer.Reset(period)
			}
		}
	}()
}

// suspectClaim is a claim naming this node that no session here held when
// it was read.
type suspectClaim struct {
	rev  uint64
	seen time.Time
}

// dropUnheldClaims is one pass of KeepClaims: it drops this node from the
// suspects seen unchanged for claimSettle that are still unheld, and
// returns the claims to look at again.
func (n *Node) dropUnheldClaims(ctx context.Context, h Holder, suspects map[string]suspectClaim) (map[string]suspectClaim, error) {
	// Read before the sessions are listed: a claim in the bucket but
	// not in the list is stale, or being made (and so changes or is
	// held within claimSettle).
	mine, err := n.claimsNamingThisNode(ctx)
	if err != nil {
		return suspects, err
	}
	held := map[string]bool{}
	for _, nick := range h.HeldNicks() {
		held[token(nick.Fold)] = true
	}
	now := n.cfg.Now()
	next := map[string]suspectClaim{}
	dropped := 0
	for key, rev := range mine {
		if held[key] {
			continue
		}
		was, ok := suspects[key]
		if !ok || was.rev != rev {
			next[key] = suspectClaim{rev: rev, seen: now}
			continue
		}
		if now.Sub(was.seen) < claimSettle || dropped >= maxDropsPerPass {
			next[key] = was
			continue
		}
		err := n.dropHolder(ctx, key, func(_ Claim, cur uint64) bool { return cur == rev })
		if err != nil {
			return next, err
		}
		dropped++
	}
	if dropped > 0 {
		n.stats.staleClaims.Add(uint64(dropped))
		n.log.Info("cluster: dropped nick claims of sessions gone whose release failed", "claims", dropped)
	}
	return next, nil
}

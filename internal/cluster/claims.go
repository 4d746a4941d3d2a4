package cluster

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// Claim says who holds a nick: the node, and the key for a registered
// person (whose sessions on several nodes share the nick) or the session
// for a guest.
type Claim struct {
	Node        string `json:"node"`
	Fingerprint string `json:"key,omitempty"`
	Session     uint64 `json:"session,omitempty"`
}

// ClaimNick takes the nick (its fold) for c, unique across the cluster:
// it succeeds if nobody holds it, if the same key holds it (another device
// of the same person), or if its holder's node has lost its lease (the
// stale claim is replaced atomically). It fails closed: ErrUnavailable if
// this node is not live or the bus does not answer, ErrNickHeld if someone
// else holds it.
func (n *Node) ClaimNick(ctx context.Context, fold string, c Claim) error {
	if !n.Live() {
		return ErrUnavailable
	}
	c.Node = n.cfg.NodeID
	val, err := json.Marshal(c)
	if err != nil {
		return err
	}
	key := token(fold)
	for range 3 {
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
		var held Claim
		if json.Unmarshal(cur.Value(), &held) != nil {
			held = Claim{}
		}
		if held.Node == c.Node && held == c {
			return nil
		}
		if c.Fingerprint != "" && held.Fingerprint == c.Fingerprint {
			return nil // the same person on another device
		}
		if held.Node != "" {
			alive, err := n.NodeAlive(ctx, held.Node)
			if err != nil {
				return unavailable(err)
			}
			if alive {
				return ErrNickHeld
			}
		}
		if _, err := n.nicks.Update(ctx, key, val, cur.Revision()); err == nil {
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) && !isRevisionMismatch(err) {
			return unavailable(err)
		}
		// Someone else replaced the stale claim first: look again.
	}
	return ErrNickHeld
}

// ReleaseNick gives the nick up if c (this node's) still holds it.
func (n *Node) ReleaseNick(ctx context.Context, fold string, c Claim) error {
	c.Node = n.cfg.NodeID
	key := token(fold)
	cur, err := n.nicks.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return unavailable(err)
	}
	var held Claim
	if json.Unmarshal(cur.Value(), &held) != nil || held != c {
		return nil
	}
	if err := n.nicks.Delete(ctx, key, jetstream.LastRevision(cur.Revision())); err != nil && !isRevisionMismatch(err) {
		return unavailable(err)
	}
	return nil
}

// NickHolder returns who holds the nick, if anyone whose node is alive.
func (n *Node) NickHolder(ctx context.Context, fold string) (Claim, bool, error) {
	cur, err := n.nicks.Get(ctx, token(fold))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Claim{}, false, nil
	}
	if err != nil {
		return Claim{}, false, unavailable(err)
	}
	var held Claim
	if json.Unmarshal(cur.Value(), &held) != nil {
		return Claim{}, false, nil
	}
	alive, err := n.NodeAlive(ctx, held.Node)
	if err != nil {
		return Claim{}, false, unavailable(err)
	}
	return held, alive, nil
}

// dropOwnClaims deletes every nick claim this node holds. Only for when it
// has no session: at join, and when it takes its lease again after a
// fence (which closed them all).
func (n *Node) dropOwnClaims(ctx context.Context) error {
	// One watcher reads every claim (a Get per key would be a round trip
	// per connected nick in the cluster).
	w, err := n.nicks.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return unavailable(err)
	}
	defer func() { _ = w.Stop() }()
	var own []jetstream.KeyValueEntry
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
			var held Claim
			if json.Unmarshal(e.Value(), &held) == nil && held.Node == n.cfg.NodeID {
				own = append(own, e)
			}
		case <-ctx.Done():
			return unavailable(ctx.Err())
		}
	}
	for _, cur := range own {
		if err := n.nicks.Delete(ctx, cur.Key(), jetstream.LastRevision(cur.Revision())); err != nil && !isRevisionMismatch(err) {
			return unavailable(err)
		}
	}
	if len(own) > 0 {
		n.log.Info("cluster: dropped the nick claims of sessions gone", "claims", len(own))
	}
	return nil
}

func isRevisionMismatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

// unavailable wraps a bus error as ErrUnavailable, keeping its text.
func unavailable(err error) error {
	return errors.Join(ErrUnavailable, err)
}

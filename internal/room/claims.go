package room

import (
	"errors"
)

// NickClaims keeps connected nicks unique across the nodes of a cluster
// (optional, WithNickClaims): a nick free on this node is also claimed
// there before it is used, and given back when its person leaves it.
type NickClaims interface {
	// ClaimNick takes the folded nick for c. It fails with
	// ErrNickHeldElsewhere if someone else holds it, with
	// ErrClaimsUnavailable (closed, so nicks stay unique) if the claim
	// cannot be checked now.
	ClaimNick(fold string, c NickClaim) error
	// ReleaseNick gives the nick back if c still holds it.
	ReleaseNick(fold string, c NickClaim)
}

// NickClaim says who claims a nick: a registered key's person (whose
// devices share the nick, on any node), or one guest session. Both: the
// session's claim becomes its key's.
type NickClaim struct {
	Fingerprint string
	Session     uint64
}

// Errors of NickClaims.ClaimNick.
var (
	ErrNickHeldElsewhere = errors.New("nick in use on another node")
	ErrClaimsUnavailable = errors.New("nicks cannot be checked across the cluster right now; please try again in a moment")
)

// CodeClusterUnavailable is the refusal of a nick that cannot be claimed
// across the cluster now.
const CodeClusterUnavailable = "cluster_unavailable"

// WithNickClaims makes connected nicks unique across a cluster's nodes.
func WithNickClaims(c NickClaims) Option { return func(h *Hub) { h.claims = c } }

// claimOf is how p claims its nick.
func claimOf(p *person, s *Session) NickClaim {
	if p.key != "" {
		return NickClaim{Fingerprint: p.key}
	}
	return NickClaim{Session: s.id}
}

// claimNick claims fold across the cluster for the person of s (claim);
// a nil error without claims. held is true if another holds it.
func (h *Hub) claimNick(fold string, claim NickClaim) (held bool, err error) {
	if h.claims == nil {
		return false, nil
	}
	switch err := h.claims.ClaimNick(fold, claim); {
	case err == nil:
		return false, nil
	case errors.Is(err, ErrNickHeldElsewhere):
		return true, nil
	default:
		h.log.Warn("cluster: nick claim failed", "nick", fold, "err", err)
		return false, refusal(CodeClusterUnavailable, ErrClaimsUnavailable)
	}
}

// claimAsKey turns the cluster claim of s's nick, made for its session,
// into its key's, once its person is known by its key (it registered a
// nick): the key's devices on other nodes may then share the nick.
func (h *Hub) claimAsKey(s *Session) {
	if h.claims == nil {
		return
	}
	h.mu.Lock()
	p := s.person
	old, key := p.claim, p.key
	h.mu.Unlock()
	if key == "" || old.Fingerprint != "" {
		return
	}
	s.mu.Lock()
	fold := s.fold
	s.mu.Unlock()
	if err := h.claims.ClaimNick(fold, NickClaim{Fingerprint: key, Session: old.Session}); err != nil {
		// It stays the session's: the key's other devices elsewhere get
		// another nick until it reconnects.
		h.log.Warn("cluster: nick claim not moved to the key", "nick", fold, "err", err)
		return
	}
	h.mu.Lock()
	p.claim = NickClaim{Fingerprint: key}
	h.mu.Unlock()
}

func (h *Hub) releaseNick(fold string, claim NickClaim) {
	if h.claims != nil && fold != "" {
		h.claims.ReleaseNick(fold, claim)
	}
}

// ReasonClusterLost closes the sessions of a node that lost its cluster
// lease: other nodes may now give their nicks away.
var ReasonClusterLost = CloseReason{CodeClusterLost, "cluster connection lost"}

// CodeClusterLost is ReasonClusterLost's code.
const CodeClusterLost = "cluster_lost"

// DisconnectAll closes every session with reason (the node lost its
// cluster lease): their front-ends end the connections, and Leave frees
// their nicks and rooms.
func (h *Hub) DisconnectAll(reason CloseReason) {
	h.mu.Lock()
	h.fences++
	var all []*Session
	for _, p := range h.nicks {
		all = append(all, p.sessions...)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.Close(reason)
	}
}

// ReasonNickTakenElsewhere closes the sessions of a nick another node gave
// away while this node's cluster lease had lapsed (the others saw it
// leave); they may connect again, under another nick.
var ReasonNickTakenElsewhere = CloseReason{CodeClusterLost, "your nick was taken on another node while the cluster recovered"}

// HeldNick is a nick this hub's people hold, and how it is claimed across
// the cluster.
type HeldNick struct {
	Fold  string
	Claim NickClaim
}

// HeldNicks lists the nicks held here, for checking the cluster's claims
// against them.
func (h *Hub) HeldNicks() []HeldNick {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.heldNicksLocked()
}

// SettleNicks is HeldNicks for claiming them again (the node's lease
// lapsed): a claim being made meanwhile is given back and refused, as
// during DisconnectAll, so that no nick kept escapes the list.
func (h *Hub) SettleNicks() []HeldNick {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fences++
	return h.heldNicksLocked()
}

func (h *Hub) heldNicksLocked() []HeldNick {
	out := make([]HeldNick, 0, len(h.nicks))
	for fold, p := range h.nicks {
		out = append(out, HeldNick{Fold: fold, Claim: p.claim})
	}
	return out
}

// CloseNick closes with reason every session of the person holding fold
// here; it returns how many.
func (h *Hub) CloseNick(fold string, reason CloseReason) int {
	h.mu.Lock()
	var all []*Session
	if p := h.nicks[fold]; p != nil {
		all = append(all, p.sessions...)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.Close(reason)
	}
	return len(all)
}

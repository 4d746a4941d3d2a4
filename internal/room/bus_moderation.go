package room

import (
	"context"
	"net/netip"
	"time"
)

// ModerationChange tells the cluster's other nodes that operators, bans
// or mutes changed in the store; for a ban, who made it and why, for the
// notice of those it disconnects there.
type ModerationChange struct {
	Ban    bool   `json:"ban,omitempty"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// WithModerationSync has the hub tell fn of every change of operators,
// bans and mutes it makes (cluster mode: fn broadcasts it, and every
// node calls ApplyModerationChange).
func WithModerationSync(fn func(ModerationChange)) Option {
	return func(h *Hub) { h.moderationSync = fn }
}

// moderationChanged tells the other nodes of a change made here.
func (h *Hub) moderationChanged(c ModerationChange) {
	if h.moderationSync != nil {
		h.moderationSync(c)
	}
}

// moderationReload bounds one reload of the moderation state.
const moderationReload = 5 * time.Second

// ApplyModerationChange reloads operators, bans and mutes from the store,
// which another node changed, and for a ban disconnects the sessions here
// it now covers. It returns their nicks.
func (h *Hub) ApplyModerationChange(c ModerationChange) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), moderationReload)
	defer cancel()
	if err := h.access.ReloadModeration(ctx); err != nil {
		return nil, err
	}
	if !c.Ban {
		return nil, nil
	}
	return h.disconnectBanned(bannedBy(c.By, c.Reason)), nil
}

// disconnectBanned closes the sessions here that a ban in force covers,
// telling them why, and returns their nicks.
func (h *Hub) disconnectBanned(banned CloseReason) []string {
	var hit []string
	for _, s := range h.sessionsWhere(func(*Session) bool { return true }) {
		addr, _ := netip.ParseAddr(s.remote)
		if _, covered := h.access.BanFor(s.fingerprint, addr); covered {
			hit = append(hit, s.Nick())
			h.notice(s, "You were "+banned.Text)
			s.Close(banned)
		}
	}
	return hit
}

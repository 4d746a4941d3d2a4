package room

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/store"
)

// ModerationChange tells the cluster's other nodes that operators, bans
// or mutes changed in the store; for a ban, who made it and why, for the
// notice of those it disconnects there (the stored ban says it too). Room and Mode tell of a room's
// topic lock set or cleared (+t, -t), Allowlist of an allowlist reload;
// the SignOut fields of browsers signed out.
type ModerationChange struct {
	Ban       bool   `json:"ban,omitempty"`
	By        string `json:"by,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Room      string `json:"room,omitempty"`
	Mode      string `json:"mode,omitempty"`
	Allowlist bool   `json:"allowlist,omitempty"`
	// SignOutKey: /logout-all of that key; SignOutLogin: one browser
	// signed out (its access.SignInID). The store has ended them already.
	SignOutKey   string `json:"sign_out_key,omitempty"`
	SignOutLogin string `json:"sign_out_login,omitempty"`
	// Announce is told to the rooms of AnnounceTo, if connected to the
	// node (an operator made or unmade).
	Announce   string `json:"announce,omitempty"`
	AnnounceTo string `json:"announce_to,omitempty"`
	// RenameKey: the person of that key took the nick RenameTo (it was
	// RenameFrom) on another node; its devices here take it too.
	RenameKey  string `json:"rename_key,omitempty"`
	RenameFrom string `json:"rename_from,omitempty"`
	RenameTo   string `json:"rename_to,omitempty"`
	// RemoveRoom: /rmroom of that room on another node, which deleted it
	// from the store; its members here part with Reason.
	RemoveRoom string `json:"remove_room,omitempty"`
	// ForgetRoom: that room, unused (nothing stored, nobody in it on any
	// node), was deleted from the store by the node that reclaimed it;
	// the other nodes drop their unused copies.
	ForgetRoom string `json:"forget_room,omitempty"`
	// PartKey: the person of that key left PartRoom (/part) on another
	// node; its devices here leave it too, with Reason.
	PartKey  string `json:"part_key,omitempty"`
	PartRoom string `json:"part_room,omitempty"`
	// JoinKey: the person of that key joined JoinRoom (/join) on another
	// node; its devices here join it too.
	JoinKey  string `json:"join_key,omitempty"`
	JoinRoom string `json:"join_room,omitempty"`
	// Registration: the nick registered or unregistered (/register,
	// /unregister) on another node; the sessions here using it, of the
	// same key, are listed again (registered or not) once the
	// registrations are read again.
	Registration string `json:"registration,omitempty"`
	// RegistrationKey is the key that registered or unregistered it: its
	// bots here under a nick it no longer holds are closed, as there.
	RegistrationKey string `json:"registration_key,omitempty"`
	// Node is the node it was made on (set by the cluster adapter).
	Node string `json:"node,omitempty"`
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
	switch {
	case c.SignOutKey != "":
		h.signOutKey(c.SignOutKey)
		return nil, nil
	case c.SignOutLogin != "":
		h.signOutLogin(c.SignOutLogin)
		return nil, nil
	case c.RemoveRoom != "":
		h.applyRemoveRoom(c.RemoveRoom, c.Reason)
		return nil, nil
	case c.RenameKey != "":
		return nil, h.applyRename(c.RenameKey, c.RenameFrom, c.RenameTo)
	case c.ForgetRoom != "":
		h.applyForgetRoom(c.ForgetRoom)
		return nil, nil
	case c.PartKey != "":
		h.applyPart(c.PartKey, c.PartRoom, c.Reason)
		return nil, nil
	case c.JoinKey != "":
		h.applyJoin(c.JoinKey, c.JoinRoom)
		return nil, nil
	case c.Mode != "":
		h.applyMode(c.By, c.Room, c.Mode)
		return nil, nil
	case c.Allowlist:
		if _, err := h.access.ReloadAllowlist(); err != nil && !errors.Is(err, access.ErrNoAllowlist) {
			return nil, err
		}
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), moderationReload)
	defer cancel()
	if err := h.access.ReloadModeration(ctx); err != nil {
		return nil, err
	}
	if c.Registration != "" {
		h.registrationChanged(c.Registration)
		if c.RegistrationKey != "" && !h.access.OwnsFold(access.Fold(c.Registration), c.RegistrationKey) {
			h.closeBotsUnder(c.RegistrationKey, c.Registration)
		}
	}
	if c.AnnounceTo != "" {
		if t := h.sessionByNick(c.AnnounceTo); t != nil {
			for _, r := range t.joinedRooms() {
				r.publish(h, &Event{Kind: KindNotice, Text: c.Announce})
			}
		}
	}
	if !c.Ban {
		return nil, nil
	}
	return h.disconnectBanned(), nil
}

// ReloadModeration reads operators, bans and mutes from the store again
// and closes the sessions here a ban covers: a backstop for a change
// whose broadcast this node missed.
func (h *Hub) ReloadModeration() ([]string, error) {
	return h.ApplyModerationChange(ModerationChange{Ban: true})
}

// disconnectBanned closes the sessions here that a ban in force covers,
// telling them who banned them and why, and returns their nicks.
func (h *Hub) disconnectBanned() []string {
	var hit []string
	for _, s := range h.sessionsWhere(func(*Session) bool { return true }) {
		addr, _ := netip.ParseAddr(s.remote)
		if ban, covered := h.access.BanFor(s.fingerprint, addr); covered {
			banned := bannedBy(ban.By, ban.Reason)
			hit = append(hit, s.Nick())
			h.notice(s, "You were "+banned.Text)
			s.Close(banned)
		}
	}
	return hit
}

// applyMode sets a room's topic lock as another node stored it, and tells
// the room's members here, if it has any.
func (h *Hub) applyMode(by, name, mode string) {
	r, err := h.roomByName(roomName(name), false)
	if err != nil {
		return // not served here: it is read from the store when it is
	}
	r.pubMu.Lock() // as setMode
	defer r.pubMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed.Load() {
		return
	}
	r.topicLocked = mode == "+t"
	r.publishLocked(h, &Event{Kind: KindNotice, Text: fmt.Sprintf("%s set mode %s on #%s", by, strings.TrimSpace(mode), r.name)})
}

// applyRename gives the person of key here the nick to, which its device
// on another node took in place of from. A person here known by another
// nick (its claim of from could not be shared) keeps it.
func (h *Hub) applyRename(key, from, to string) error {
	h.mu.Lock()
	var s *Session
	if p := h.keyPeople[key]; p != nil && len(p.sessions) > 0 {
		s = p.sessions[0]
	}
	h.mu.Unlock()
	if s == nil || access.Fold(s.Nick()) != access.Fold(from) {
		return nil
	}
	return h.renamePerson(s, to, false)
}

// sharePart tells the other nodes that the person of s left the room
// name: its devices of the same key there leave it too, as its sessions
// here did (a person is in a room on every device or on none).
func (h *Hub) sharePart(s *Session, name, reason string) {
	h.mu.Lock()
	key := s.person.key
	h.mu.Unlock()
	if key != "" {
		h.moderationChanged(ModerationChange{PartKey: key, PartRoom: name, Reason: reason})
	}
}

// applyPart parts the person of key here from the room name, which its
// device on another node left.
func (h *Hub) applyPart(key, name, reason string) {
	h.mu.Lock()
	var sessions []*Session
	if p := h.keyPeople[key]; p != nil {
		sessions = append(sessions, p.sessions...)
	}
	h.mu.Unlock()
	for _, s := range sessions {
		if r := s.roomNamed(name); r != nil {
			// The part reaches each of the person's sessions here; one
			// made meanwhile here is not_in_room, which needs no answer.
			_ = h.part(s, r, reason)
			return
		}
	}
}

// shareJoin tells the other nodes that the person of s joined the room
// name: its devices of the same key there join it too, as its sessions
// here did.
func (h *Hub) shareJoin(s *Session, name string) {
	h.mu.Lock()
	key := s.person.key
	h.mu.Unlock()
	if key != "" {
		h.moderationChanged(ModerationChange{JoinKey: key, JoinRoom: roomName(name)})
	}
}

// applyJoin puts the person of key here in the room name, which its
// device on another node joined (and created in the store if new); as
// on one node, it becomes the current room of the devices not yet in it.
func (h *Hub) applyJoin(key, name string) {
	h.mu.Lock()
	var s *Session
	if p := h.keyPeople[key]; p != nil && len(p.sessions) > 0 {
		s = p.sessions[0]
	}
	h.mu.Unlock()
	if s == nil || s.roomNamed(name) != nil {
		return
	}
	r, err := h.roomByName(name, false)
	if err != nil {
		// Not served here yet: taken from the store, unless it was
		// removed meanwhile (then the devices here stay out of it).
		if !h.roomStored(name) {
			return
		}
		if r, err = h.roomByName(name, true); err != nil {
			h.log.Warn("cluster: a person's join on another node not applied here", "room", name, "err", err)
			return
		}
	}
	// The node it was made on saved the key's rooms: saving them here
	// too could land after a later change there.
	h.joinPerson(s, r)
}

// roomStored tells whether the shared store holds the room name (false
// if it cannot be read).
func (h *Hub) roomStored(name string) bool {
	rr, ok := h.store.(store.RoomReader)
	if !ok {
		return slices.ContainsFunc(h.storedRoomList(true), func(r RoomInfo) bool { return r.Name == name })
	}
	ctx, cancel := context.WithTimeout(context.Background(), moderationReload)
	defer cancel()
	_, err := rr.StoredRoom(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.Warn("cluster: room not read from the store", "room", name, "err", err)
	}
	return err == nil
}

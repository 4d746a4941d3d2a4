package room

import (
	"context"
	"slices"
)

// InputHistoryKept is how many sent lines a registered key keeps between
// visits, for recalling them.
const InputHistoryKept = 100

// SetKeyHelp gives the front-end's key bindings, one per line, which
// /help lists after the commands.
func (s *Session) SetKeyHelp(text string) {
	s.mu.Lock()
	s.keys = text
	s.mu.Unlock()
}

func (s *Session) keyHelp() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys
}

// keyRemembers tells whether what the session does is kept for its key
// between visits (its rooms, its sent lines): only for a key that has
// registered a nick, someone who chose to be known by it.
func (s *Session) keyRemembers() bool {
	return s.fingerprint != "" && s.botToken == "" && len(s.hub.NicksOf(s.fingerprint)) > 0
}

// InputHistory is the lines s's key sent in earlier visits, oldest first
// (none for a key that keeps nothing, see keyRemembers).
func (h *Hub) InputHistory(s *Session) []string {
	if !s.keyRemembers() {
		return nil
	}
	var lines []string
	_ = h.persist("input history", "", func(ctx context.Context) (err error) {
		lines, err = h.store.InputHistory(ctx, s.fingerprint, InputHistoryKept)
		return err
	}, "key", s.fingerprint)
	return lines
}

// RememberInput keeps a line s sent for its key's next visits. A private
// message (/msg, /reply) is kept only where private messages are stored
// (--store-private): recalling it must not store what the server was told
// not to.
func (h *Hub) RememberInput(s *Session, line string) {
	if !s.keyRemembers() {
		return
	}
	if name, _, ok := ParseCommand(line); ok && (name == "msg" || name == "reply") && !h.storePM {
		return
	}
	_ = h.persist("input history", "", func(ctx context.Context) error {
		return h.store.AppendInputHistory(ctx, s.fingerprint, line, InputHistoryKept)
	}, "key", s.fingerprint)
}

// InputRate is the rate at which a session may send lines: burst at once,
// then perSecond.
func (h *Hub) InputRate() (burst int, perSecond float64) { return h.rateBurst, h.ratePerSec }

// MemberNicks lists the nicks in a room s is in, sorted as the member list
// is (for completion); none if s is not in it.
func (s *Session) MemberNicks(room string) []string {
	r := s.roomNamed(roomName(room))
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	nicks := make([]string, len(r.listed))
	for i, m := range r.listed {
		nicks[i] = m.Nick
	}
	return nicks
}

// RoomNames lists every room's name, sorted (for completion).
func (h *Hub) RoomNames() []string {
	h.mu.Lock()
	names := make([]string, 0, len(h.rooms))
	for name := range h.rooms {
		names = append(names, name)
	}
	h.mu.Unlock()
	slices.Sort(names)
	return names
}

// saveKeyRooms keeps the rooms s is in for its key's next visit.
func (h *Hub) saveKeyRooms(s *Session) {
	if !s.keyRemembers() {
		return
	}
	rooms := s.Rooms()
	_ = h.persist("key rooms", "", func(ctx context.Context) error {
		return h.store.SetKeyRooms(ctx, s.fingerprint, rooms)
	}, "key", s.fingerprint)
}

// rejoinKeyRooms puts s back in the rooms its key was in last time (those
// that still exist), then back in the lobby as its current room.
func (h *Hub) rejoinKeyRooms(s *Session, lobby *Room) {
	if !s.keyRemembers() {
		return
	}
	var rooms []string
	if h.persist("key rooms", "", func(ctx context.Context) (err error) {
		rooms, err = h.store.KeyRooms(ctx, s.fingerprint)
		return err
	}, "key", s.fingerprint) != nil {
		return
	}
	rejoined := false
	for _, name := range rooms {
		if name == lobby.name {
			continue
		}
		if r, err := h.roomByName(name, false); err == nil && h.joinRoom(s, r) {
			rejoined = true
		}
	}
	if rejoined {
		_ = s.SetCurrentRoom(lobby.name)
	}
}

// MaxLines is how many lines one message may have (0: no limit but
// MaxMessage).
func (h *Hub) MaxLines() int { return h.maxLines }

// forgetKey deletes what a key carried between visits (see keyRemembers),
// once it has no registered nick left.
func (h *Hub) forgetKey(fingerprint string) {
	_ = h.persist("forget key", "", func(ctx context.Context) error {
		return h.store.ForgetKey(ctx, fingerprint)
	}, "key", fingerprint)
}

package sshchat

import "github.com/tertulia/tertulia/internal/room"

// markShownRead moves the key's read marker of the room or conversation on
// screen to its newest message when that is shown (the view follows the
// bottom), so that the user's other devices clear its unread mark. It
// runs after every update; the marker only moves when a newer message is
// shown, and the core ignores it for a guest.
func (m *tuiModel) markShownRead() {
	if !m.msgs.follow || m.closing != "" {
		return
	}
	key := m.shownKey()
	if key == "" || key != m.shown {
		return
	}
	v := m.views[key]
	if v == nil || v.newest <= v.readUpTo {
		return
	}
	v.readUpTo = v.newest
	if m.pmPeer != "" {
		m.hub.MarkRead(m.cs, "", m.pmPeer, v.newest)
	} else {
		m.hub.MarkRead(m.cs, key, "", v.newest)
	}
}

// readElsewhere takes the key's read marker from another device, or the
// stored one after a join: the room's (or conversation's) unread mark goes
// once everything in it is read, and shows while something is not.
func (m *tuiModel) readElsewhere(ev *room.Event) {
	key := ev.Room
	if key == "" {
		key = "@" + ev.To
	}
	v := m.views[key]
	if v == nil {
		return
	}
	v.readUpTo = max(v.readUpTo, ev.ID)
	switch {
	case v.readUpTo >= v.newest:
		v.unread, v.mentioned = false, false
	case key != m.shownKey():
		// A join's marker short of the history shown: a new device
		// starts with what is still unread marked.
		v.unread = true
	}
}

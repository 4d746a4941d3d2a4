package room

import (
	"cmp"
	"slices"
)

// Presence shares each room's members with the other nodes of a cluster
// (optional, WithPresence). Each node writes its own members of a room and
// follows the others': they are listed and counted with this node's, and
// their joins, parts and away changes announced here when another node's
// list changes. Across nodes presence is ordered causally (per node), not
// totally against the room's messages.
type Presence interface {
	// Changed says this node's members of room changed; the presence bus
	// reads them (LocalMembers) when it next writes.
	Changed(room string)
	// Snapshot is what the other nodes list of room now, by node.
	Snapshot(room string) map[string][]SharedMember
}

// SharedMember is one member as nodes share it: Key is its folded nick,
// by which a person with devices on several nodes is listed once.
type SharedMember struct {
	Key string `json:"key"`
	// Person tells one person of the node apart from another across its
	// lists: a key that changes for the same person is a nick change.
	Person uint64 `json:"person,omitempty"`
	Member
}

// ReasonNodeLost is the part reason of members whose node went away.
const ReasonNodeLost = "connection lost"

// WithPresence shares the hub's member lists with other nodes.
func WithPresence(p Presence) Option { return func(h *Hub) { h.presence = p } }

// LocalMembers is this node's members of room (none if it has no such
// room), sorted by key.
func (h *Hub) LocalMembers(name string) []SharedMember {
	h.mu.Lock()
	r := h.rooms[name]
	h.mu.Unlock()
	if r == nil {
		return []SharedMember{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]SharedMember, len(r.order))
	for i, m := range r.order {
		out[i] = SharedMember{Key: m.key, Person: m.s.person.id, Member: r.listed[i]}
	}
	return out
}

// sharePresenceLocked tells the presence bus that r's members here may
// have changed. r.mu must be held.
func (r *Room) sharePresenceLocked(h *Hub) {
	if h.presence != nil {
		h.presence.Changed(r.name)
	}
}

// seedRemoteLocked takes the other nodes' lists of r the first time r is
// followed here, silently: the joiner's member list shows them. r.mu must
// be held.
func (r *Room) seedRemoteLocked(h *Hub) {
	if h.presence == nil || r.remoteSeeded {
		return
	}
	r.remoteSeeded = true
	r.remote = h.presence.Snapshot(r.name)
}

// RemoteMembers takes in another node's members of room (nil: the node's
// entry is gone, and its members leave with reason). Who appears or goes
// from the room as a whole is announced to this node's members.
func (h *Hub) RemoteMembers(name, node string, list []SharedMember, reason string) {
	h.mu.Lock()
	r := h.rooms[name]
	h.mu.Unlock()
	if r == nil {
		return // seeded from a snapshot if it is made here
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.remote[node]
	if r.remote == nil {
		r.remote = make(map[string][]SharedMember)
	}
	if list == nil {
		delete(r.remote, node)
	} else {
		r.remote[node] = list
	}
	elsewhere := r.keysLocked(node)
	was := make(map[string]Member, len(old))
	for _, m := range old {
		was[m.Key] = m.Member
	}
	now := make(map[string]bool, len(list))
	for _, m := range list {
		now[m.Key] = true
	}
	renamedFrom := renamesIn(old, list, was, now)
	gone := make(map[string]bool, len(renamedFrom))
	for _, m := range list {
		prev, in := was[m.Key]
		from, renamed := renamedFrom[m.Key]
		switch {
		case renamed:
			gone[from.Key] = true
			if r.renamed[from.Key] != m.Key {
				r.noteRenameLocked(from.Key, m.Key)
				r.presenceLocked(h, &Event{Kind: KindNick, From: from.Nick, To: m.Nick, Registered: m.Registered}, noteNick(from.Nick, m.Nick))
			}
			if from.Away != m.Away {
				r.presenceLocked(h, &Event{Kind: KindAway, From: m.Nick, Text: m.Away}, noteAway(m.Nick, m.Away))
			}
		case elsewhere[m.Key]:
		case !in:
			r.presenceLocked(h, &Event{Kind: KindJoin, From: m.Nick, Via: m.Via, Registered: m.Registered, Bot: m.Bot, Count: r.countLocked()}, noteJoin(m.Nick))
			if m.Away != "" {
				r.presenceLocked(h, &Event{Kind: KindAway, From: m.Nick, Text: m.Away}, noteAway(m.Nick, m.Away))
			}
		case prev.Away != m.Away:
			r.presenceLocked(h, &Event{Kind: KindAway, From: m.Nick, Text: m.Away}, noteAway(m.Nick, m.Away))
		}
	}
	for _, m := range old {
		if !now[m.Key] && !elsewhere[m.Key] && !gone[m.Key] {
			r.presenceLocked(h, &Event{Kind: KindPart, From: m.Nick, Text: reason, Count: r.countLocked()}, notePart(m.Nick))
		}
	}
	r.pruneRenamesLocked()
}

// renamesIn pairs the members of a node's new list whose key is new with
// the same person's key gone from its old list (was and now are the two
// lists' keys): those people changed nick. By new key.
func renamesIn(old, list []SharedMember, was map[string]Member, now map[string]bool) map[string]SharedMember {
	var goneByPerson map[uint64]SharedMember
	for _, m := range old {
		if m.Person != 0 && !now[m.Key] {
			if goneByPerson == nil {
				goneByPerson = make(map[uint64]SharedMember)
			}
			goneByPerson[m.Person] = m
		}
	}
	if goneByPerson == nil {
		return nil
	}
	out := make(map[string]SharedMember)
	for _, m := range list {
		if _, in := was[m.Key]; in || m.Person == 0 {
			continue
		}
		if from, ok := goneByPerson[m.Person]; ok {
			out[m.Key] = from
		}
	}
	return out
}

// noteRenameLocked remembers that the rename of from to to was announced
// here while another node may still list from. r.mu must be held.
func (r *Room) noteRenameLocked(from, to string) {
	if r.renamed == nil {
		r.renamed = make(map[string]string)
	}
	r.renamed[from] = to
}

// pruneRenamesLocked forgets the announced renames whose old key no node
// lists any more. r.mu must be held.
func (r *Room) pruneRenamesLocked() {
	if len(r.renamed) == 0 {
		return
	}
	keys := r.keysLocked("")
	for from := range r.renamed {
		if !keys[from] {
			delete(r.renamed, from)
		}
	}
}

// keysLocked is every member's key here and on the other nodes but
// except. r.mu must be held.
func (r *Room) keysLocked(except string) map[string]bool {
	keys := make(map[string]bool, len(r.order))
	for _, m := range r.order {
		keys[m.key] = true
	}
	for node, list := range r.remote {
		if node == except {
			continue
		}
		for _, m := range list {
			keys[m.Key] = true
		}
	}
	return keys
}

// remoteOnlyLocked is the members listed by other nodes only, each once,
// sorted by key. r.mu must be held.
func (r *Room) remoteOnlyLocked() []SharedMember {
	if len(r.remote) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(r.order))
	for _, m := range r.order {
		seen[m.key] = true
	}
	var out []SharedMember
	for _, list := range r.remote {
		for _, m := range list {
			if !seen[m.Key] {
				seen[m.Key] = true
				out = append(out, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b SharedMember) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// countLocked is how many people are in r on every node. r.mu must be
// held.
func (r *Room) countLocked() int {
	return len(r.order) + len(r.remoteOnlyLocked())
}

// mergedListLocked is r's member list with the other nodes' members, sorted
// by key. r.mu must be held.
func (r *Room) mergedListLocked() []Member {
	remote := r.remoteOnlyLocked()
	out := make([]Member, 0, len(r.listed)+len(remote))
	i, j := 0, 0
	for i < len(r.order) || j < len(remote) {
		if j == len(remote) || i < len(r.order) && r.order[i].key <= remote[j].Key {
			out = append(out, r.listed[i])
			i++
			continue
		}
		out = append(out, remote[j].Member)
		j++
	}
	return out
}

// mergedKeyedLocked is r's members here and on the other nodes, each
// once, sorted by key: their keys and, at the same index, their listings.
// Without other nodes, r's own slices. r.mu must be held.
func (r *Room) mergedKeyedLocked() (keys []string, listed []Member) {
	remote := r.remoteOnlyLocked()
	keys = make([]string, 0, len(r.order)+len(remote))
	if len(remote) == 0 {
		for _, m := range r.order {
			keys = append(keys, m.key)
		}
		return keys, r.listed
	}
	listed = make([]Member, 0, len(r.order)+len(remote))
	i, j := 0, 0
	for i < len(r.order) || j < len(remote) {
		if j == len(remote) || i < len(r.order) && r.order[i].key <= remote[j].Key {
			keys, listed = append(keys, r.order[i].key), append(listed, r.listed[i])
			i++
			continue
		}
		keys, listed = append(keys, remote[j].Key), append(listed, remote[j].Member)
		j++
	}
	return keys, listed
}

// dropRemoteLocked takes key out of this node's copies of the other
// nodes' lists of r. r.mu must be held.
func (r *Room) dropRemoteLocked(key string) {
	for node, list := range r.remote {
		if slices.ContainsFunc(list, func(m SharedMember) bool { return m.Key == key }) {
			r.remote[node] = slices.DeleteFunc(slices.Clone(list), func(m SharedMember) bool { return m.Key == key })
		}
	}
}

// remoteHasLocked tells whether another node lists key in r. r.mu must be
// held.
func (r *Room) remoteHasLocked(key string) bool {
	for _, list := range r.remote {
		for _, m := range list {
			if m.Key == key {
				return true
			}
		}
	}
	return false
}

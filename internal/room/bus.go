package room

import (
	"context"

	"github.com/tertulia/tertulia/internal/store"
)

// Bus carries a room's stored entries (messages, actions, topic changes)
// between the nodes of a cluster sharing one store. It is optional
// (WithBus): without it, a node publishes what it stores straight away, as
// a single node always has. With it, whatever this node stores is
// published on the bus and offered to the room's local feed, and the feed
// alone publishes entries to the room's members, this node's and the
// others' alike, so every node delivers a room's entries in the store's
// order.
type Bus interface {
	// Follow delivers the room's entries with an ID above last, in the
	// store's order, each once, never two calls at a time, until the
	// feed is stopped. It may deliver entries before it returns (what was
	// stored after last).
	Follow(room string, last int64, deliver func(store.Message)) (Feed, error)
	// Publish sends an entry this node stored (ID and Prev set) to the
	// other nodes.
	Publish(m store.Message) error
}

// Feed is one room followed on a Bus.
type Feed interface {
	// Offer hands the feed an entry this node stored, which it delivers
	// in its turn.
	Offer(m store.Message)
	// Stop ends the feed: deliver is not called once it returns.
	Stop()
}

// leaseRefusal refuses what a session would store while this node has lost
// its cluster lease (it was stopped or cut off): the session's nick may be
// someone else's by now on another node.
func (h *Hub) leaseRefusal(prefix string) error {
	if h.busLive() {
		return nil
	}
	return userErr(CodeClusterUnavailable, prefix+"the cluster cannot be reached right now; please try again in a moment")
}

// busLive says whether this node may speak in the cluster now: true
// without a bus, or with one that cannot tell (no Live method); with a
// cluster bus, whether the node holds its lease.
func (h *Hub) busLive() bool {
	lb, ok := h.bus.(interface{ Live() bool })
	return !ok || lb.Live()
}

// WithBus shares the hub's rooms with other nodes (cluster mode). The
// hub's store must be the one the other nodes write to, and set each
// entry's Prev.
func WithBus(b Bus) Option { return func(h *Hub) { h.bus = b } }

// pendingEcho is an entry this node stored and offered to its feed, whose
// sender is here: its copy carries the say's cid.
type pendingEcho struct {
	ev     *Event
	sender *Session
	echo   *Event
}

// follow makes sure this node follows r on the bus before a member is
// added: entries stored elsewhere since r's last one known here reach its
// recent history and topic first. Holding no lock but the person's
// memberMu.
func (h *Hub) follow(r *Room) {
	if h.bus == nil {
		return
	}
	r.feedMu.Lock()
	defer r.feedMu.Unlock()
	r.mu.Lock()
	r.seedRemoteLocked(h)
	following := r.feed != nil
	r.mu.Unlock()
	if following || r.removed.Load() {
		return
	}
	h.reloadRoom(r)
	r.mu.Lock()
	last := r.lastEntry
	r.mu.Unlock()
	feed, err := h.bus.Follow(r.name, last, func(m store.Message) { h.deliverEntry(r, m) })
	if err != nil {
		h.log.Warn("cluster: cannot follow room", "room", r.name, "err", err)
		return
	}
	r.mu.Lock()
	r.feed = feed
	r.mu.Unlock()
}

// reloadRoom reads r's last history page, topic and mode from the store
// again before this node follows it: what was said since it last did (or
// ever, for a room another node made) may be long, and the feed need only
// replay what follows the page. If the store cannot be read, the feed
// replays everything since the last entry known here. Holding r.feedMu
// only.
func (h *Hub) reloadRoom(r *Room) {
	rr, ok := h.store.(store.RoomReader)
	if !ok {
		return
	}
	var msgs []store.Message
	var info store.Room
	// The page first: a topic set after it was read comes after its last
	// message, and the feed replays it.
	if err := h.persist("room", "", func(ctx context.Context) (err error) {
		if msgs, err = h.store.History(ctx, r.name, 0, h.history+1); err != nil {
			return err
		}
		info, err = rr.StoredRoom(ctx, r.name)
		return err
	}, "room", r.name); err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.members) > 0 || len(r.watchers) > 0 {
		// Someone here (joined while a follow failed) must get every
		// entry since: the feed replays them, topics included.
		return
	}
	r.topic, r.topicLocked, r.kept = info.Topic, info.TopicLocked, r.kept || info.HasEntries
	if len(msgs) == 0 || msgs[len(msgs)-1].ID <= r.lastEntry {
		return // nothing said since: the feed replays at most topic changes
	}
	newest := msgs[len(msgs)-1].ID
	r.lastEntry = newest
	r.lastID.Store(uint64(newest))
	r.older = len(msgs) > h.history
	if r.older {
		msgs = msgs[len(msgs)-h.history:]
	}
	r.recent = make([]*Event, len(msgs))
	for i := range msgs {
		r.recent[i] = eventFromStored(&msgs[i])
	}
}

// unfollowIfEmpty stops following r once it has no local member or
// watcher (or is removed). Holding no lock but a person's memberMu.
func (h *Hub) unfollowIfEmpty(r *Room) {
	if h.bus == nil {
		return
	}
	r.feedMu.Lock()
	defer r.feedMu.Unlock()
	r.mu.Lock()
	feed := r.feed
	if feed == nil || ((len(r.members) > 0 || len(r.watchers) > 0) && !r.removed.Load()) {
		r.mu.Unlock()
		return
	}
	r.feed = nil
	pending := r.echoes
	r.echoes = nil
	r.mu.Unlock()
	feed.Stop()
	// Senders who left before their entry came round still get their
	// copy: it answers their say.
	for _, p := range pending {
		if p.echo != nil {
			p.sender.deliver(p.echo)
		}
	}
}

// stopFeeds stops following every room, at shutdown.
func (h *Hub) stopFeeds() {
	if h.bus == nil {
		return
	}
	h.mu.Lock()
	rooms := make([]*Room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	for _, r := range rooms {
		r.feedMu.Lock()
		r.mu.Lock()
		feed := r.feed
		r.feed, r.echoes = nil, nil
		r.mu.Unlock()
		if feed != nil {
			feed.Stop()
		}
		r.feedMu.Unlock()
	}
}

// publishStored sends m, which this node just stored in r, on the bus and
// to r's feed; ev and echo are what this node's members get if m is a
// message (see publishMessage). It tells whether the feed took m: if not
// (nobody here follows r), the caller delivers to the sender only.
func (h *Hub) publishStored(r *Room, m store.Message, ev *Event, sender *Session, echo *Event) bool {
	// The sender's copy is noted first: the bus may bring m back to this
	// node's feed before Publish returns.
	r.mu.Lock()
	feed := r.feed
	if feed != nil && ev != nil {
		if r.echoes == nil {
			r.echoes = make(map[int64]pendingEcho)
		}
		r.echoes[m.ID] = pendingEcho{ev: ev, sender: sender, echo: echo}
	}
	r.mu.Unlock()
	if err := h.bus.Publish(m); err != nil {
		// The other nodes read it from the store when they see the gap.
		h.log.Warn("cluster: publish failed", "room", r.name, "id", m.ID, "err", err)
	}
	if feed == nil {
		return false
	}
	feed.Offer(m)
	return true
}

// deliverEntry publishes one stored entry of r, from this node or another,
// to r's members here: the feed calls it in the store's order.
func (h *Hub) deliverEntry(r *Room, m store.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.ID <= r.lastEntry {
		return
	}
	r.lastEntry = m.ID
	p, mine := r.echoes[m.ID]
	delete(r.echoes, m.ID)
	switch m.Kind {
	case store.KindTopic:
		r.topic = m.Text
		r.kept = true
		r.publishLocked(h, &Event{Kind: KindTopic, Room: r.name, From: m.From, Text: m.Text, Time: m.Time})
	case store.KindMessage, store.KindAction:
		if mine {
			r.publishMessageLocked(h, p.ev, p.sender, p.echo)
		} else {
			r.publishMessageLocked(h, eventFromStored(&m), nil, nil)
		}
	}
}

package room

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tertulia/tertulia/internal/access"
	"github.com/tertulia/tertulia/internal/store"
)

// maxHistoryPage bounds one request for older messages.
const maxHistoryPage = 200

// LoadRooms reads the stored rooms, their topics and recent messages, and
// makes sure the lobby is stored. Call it once, before any session connects.
func (h *Hub) LoadRooms(ctx context.Context) error {
	if err := h.access.Load(ctx); err != nil {
		return err
	}
	if err := h.store.EnsureRoom(ctx, store.Room{Name: h.lobby, CreatedAt: h.now()}); err != nil {
		return err
	}
	stored, err := h.store.Rooms(ctx)
	if err != nil {
		return err
	}
	now := h.now()
	reclaimed := 0
	// In a cluster a node reads a room's last page when it starts
	// following it (reloadRoom), which it does only for a room someone
	// here uses: reading every room's history here too would make the
	// start-up cost grow with every stored room's history.
	_, onDemand := h.store.(store.RoomReader)
	onDemand = onDemand && h.bus != nil
	for _, sr := range stored {
		// Not in cluster mode: another node may be using the room.
		if h.bus == nil && h.reclaimAfter > 0 && sr.Name != h.lobby && !sr.HasEntries && sr.Topic == "" && !sr.TopicLocked {
			// Nothing of it was kept and nobody is in it after a restart:
			// a room name is all it holds, and it would count against
			// --max-rooms for good.
			if err := h.store.DeleteRoom(ctx, sr.Name); err != nil {
				return err
			}
			reclaimed++
			continue
		}
		r := newRoom(sr.Name, now)
		r.topic = sr.Topic
		r.topicLocked = sr.TopicLocked
		r.kept = sr.HasEntries
		if onDemand {
			h.mu.Lock()
			h.rooms[sr.Name] = r
			h.mu.Unlock()
			continue
		}
		// One more than is kept: if it is there, older messages remain.
		msgs, err := h.store.History(ctx, sr.Name, 0, h.history+1)
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			r.lastID.Store(uint64(msgs[len(msgs)-1].ID))
			// Topic changes after it, if any, come again from the bus's
			// catch-up (cluster mode), setting the same topic.
			r.lastEntry = msgs[len(msgs)-1].ID
		}
		if len(msgs) > h.history {
			r.older = true
			msgs = msgs[len(msgs)-h.history:]
		}
		for i := range msgs {
			r.recent = append(r.recent, eventFromStored(&msgs[i]))
		}
		h.mu.Lock()
		h.rooms[sr.Name] = r
		h.mu.Unlock()
	}
	if reclaimed > 0 {
		h.log.Info("rooms reclaimed at startup", "rooms", reclaimed)
	}
	h.obs.RoomsChanged(h.RoomCount())
	return nil
}

func eventFromStored(m *store.Message) *Event {
	return &Event{Kind: KindMessage, ID: uint64(m.ID), Room: m.Room, From: m.From, Text: m.Text, Action: m.Kind == store.KindAction, Time: m.Time}
}

// roomByName returns the room, creating (and storing) it when create is
// set. The cap counts rooms whose creation is under way, so concurrent
// creators never overshoot it; once it is reached, unused rooms are
// reclaimed first.
func (h *Hub) roomByName(name string, create bool) (*Room, error) {
	// In a cluster the cap counts every node's rooms: the shared store's,
	// read when a room is to be created here.
	var stored []RoomInfo
	counted := h.bus == nil
	for {
		h.mu.Lock()
		if r := h.rooms[name]; r != nil {
			h.mu.Unlock()
			return r, nil
		}
		busy := h.busyRooms[name]
		if !create {
			h.mu.Unlock()
			return nil, userErr("no_such_room", "there is no room #"+name)
		}
		if busy != nil {
			// Another creation or a removal of this name is storing:
			// wait for it (bounded by storeTimeout), then look again.
			h.mu.Unlock()
			<-busy
			continue
		}
		if !counted {
			h.mu.Unlock()
			stored, counted = h.storedRoomList(true), true
			continue
		}
		// A room another node created is stored already: joining it here
		// adds none.
		elsewhere := slices.ContainsFunc(stored, func(r RoomInfo) bool { return r.Name == name })
		if !elsewhere && h.roomCountLocked(stored) >= h.maxRooms {
			h.mu.Unlock()
			if h.ReclaimRooms() > 0 {
				counted = h.bus == nil
				continue
			}
			return nil, userErr("too_many_rooms", "no new rooms can be created now")
		}
		done := make(chan struct{})
		h.busyRooms[name] = done
		h.mu.Unlock()

		err := h.persist("room", "the room could not be created, please try again", func(ctx context.Context) error {
			return h.store.EnsureRoom(ctx, store.Room{Name: name, CreatedAt: h.now()})
		}, "room", name)
		var r *Room
		if err == nil {
			r = newRoom(name, h.now())
			// Not yet shared: no other goroutine can reach r. The other
			// nodes' lists are decoded before h.mu is taken, which every
			// session's commands need.
			r.seedRemoteLocked(h)
		}
		h.mu.Lock()
		delete(h.busyRooms, name)
		close(done)
		if err != nil {
			h.mu.Unlock()
			return nil, err
		}
		h.rooms[name] = r
		// Under the lock, so concurrent creations report in order.
		h.obs.RoomsChanged(len(h.rooms))
		h.mu.Unlock()
		return r, nil
	}
}

// join puts s in the room (creating it if new, within s's room creation
// budget) and makes it current.
func (h *Hub) join(s *Session, name string) error {
	name = roomName(name)
	if err := ValidateRoomName(name); err != nil {
		return err
	}
	// A room removed between the look-up and the join is looked up again.
	for range 3 {
		r, err := h.roomByName(name, false)
		if err != nil {
			if !h.storedElsewhere(name) {
				if err := h.allowRoomCreation(s); err != nil {
					return err
				}
			}
			if r, err = h.roomByName(name, true); err != nil {
				return err
			}
		}
		if h.joinPerson(s, r) {
			return nil
		}
	}
	return userErr("no_such_room", "#"+name+" was just removed, please try again")
}

// part takes the person of s out of r with all its sessions; the others
// and each of those sessions see the part. In a cluster the person leaves
// r on every node (sharePart, applyPart): the part is announced here at
// once, even while another node still lists the person, whose dropping
// it later is then not announced again.
func (h *Hub) part(s *Session, r *Room, reason string) error {
	s.person.memberMu.Lock()
	defer s.person.memberMu.Unlock()
	r.mu.Lock()
	if _, in := r.members[s]; !in {
		r.mu.Unlock()
		return userErr("not_in_room", "you are not in #"+r.name)
	}
	gone := r.removePersonLocked(s)
	if len(r.order) == 0 {
		r.emptySince = h.now()
	}
	nick := s.Nick()
	s.mu.Lock()
	fold := s.fold
	s.mu.Unlock()
	// The other nodes' lists of r drop the person now rather than when
	// they come next: their own parts, or later lists, announce nothing
	// more (a later list that has the person again is a join).
	r.dropRemoteLocked(fold)
	ev := &Event{Kind: KindPart, From: nick, Text: reason, Count: r.countLocked()}
	r.presenceLocked(h, ev, notePart(nick), gone...)
	r.mu.Unlock()

	for _, o := range gone {
		o.dropRoom(r)
	}
	h.unfollowIfEmpty(r)
	return nil
}

// setTopic stores and announces a room's topic.
func (h *Hub) setTopic(s *Session, r *Room, topic string) error {
	if h.muted(s) {
		return userErr("muted", "you are muted")
	}
	if err := h.leaseRefusal("topic not set: "); err != nil {
		return err
	}
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	if r.removed.Load() {
		return userErr("no_such_room", "#"+r.name+" has been removed")
	}
	// The topic's entry and event come after the messages already queued.
	r.drainLocked()
	ev := &Event{Kind: KindTopic, Room: r.name, From: s.Nick(), Text: topic, Time: h.now().Truncate(time.Millisecond)}
	m := store.Message{Room: r.name, Kind: store.KindTopic, From: ev.From, Text: topic, Time: ev.Time}
	if err := h.persist("topic", "the topic could not be stored, please try again", func(ctx context.Context) error {
		return h.store.SetTopic(ctx, &m)
	}, "room", r.name); err != nil {
		return err
	}
	if h.bus != nil && h.publishStored(r, m, nil, s, nil) {
		return nil // the room's feed publishes it in the store's order
	}
	r.mu.Lock()
	r.topic = topic
	r.kept = true
	r.publishLocked(h, ev)
	r.mu.Unlock()
	return nil
}

// sessionByNick finds a connected session: the first of the person using
// nick.
func (h *Hub) sessionByNick(nick string) *Session {
	if ValidateNick(nick) != nil {
		return nil // no nick; and folding it could be long
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.nicks[access.Fold(nick)]; p != nil && len(p.sessions) > 0 {
		return p.sessions[0]
	}
	return nil
}

// private sends a private message to nick; both ends see it. With a cid,
// the sending session's copy (echo, also returned) carries it.
func (h *Hub) private(s *Session, nick, text, cid string) (echo *Event, err error) {
	if h.muted(s) {
		return nil, userErr("muted", "you are muted: your message was not sent")
	}
	// As for room messages: a node without its lease may be showing a
	// nick the cluster has given to someone else meanwhile.
	if err := h.leaseRefusal("message not sent: "); err != nil {
		return nil, err
	}
	to := h.sessionByNick(nick)
	if to == nil {
		if echo, err, handled := h.privateRemote(s, nick, text, cid); handled {
			return echo, err
		}
		return h.privateOffline(s, nick, text, cid)
	}
	return h.privateTo(s, to, text, cid)
}

// replyTarget is who last sent a session a private message: that session
// (with its key), not whoever holds its nick later.
type replyTarget struct {
	session     *Session
	nick        string // as it was then
	fingerprint string
	// elsewhere: the sender was on another node of the cluster (session
	// is nil); a reply goes to whoever holds nick there.
	elsewhere bool
}

// reply answers the last private message s received. It goes to the
// session that sent it, under whatever nick it has now; if that session is
// gone, to a session of the same key under the same nick (the same person,
// reconnected), else nowhere: a guest's nick may have been taken by
// someone else since. A cid is as for private.
func (h *Hub) reply(s *Session, text, cid string) (echo *Event, err error) {
	if h.muted(s) {
		return nil, userErr("muted", "you are muted: your message was not sent")
	}
	if err := h.leaseRefusal("message not sent: "); err != nil {
		return nil, err
	}
	s.mu.Lock()
	last := s.replyTo
	s.mu.Unlock()
	if last.elsewhere {
		return h.private(s, last.nick, text, cid)
	}
	if last.session == nil {
		return nil, userErr("no_reply", "nobody has sent you a private message yet")
	}
	to := last.session
	select {
	case <-to.done:
		to = nil
		if last.fingerprint != "" {
			if same := h.sessionByNick(last.nick); same != nil && same.fingerprint == last.fingerprint {
				to = same
			}
		}
	default:
	}
	if to == nil {
		who := last.nick
		if now := last.session.Nick(); now != last.nick {
			who += " (later " + now + ")"
		}
		return nil, userErr("reply_gone", who+" is no longer here; /msg reaches whoever has a nick now")
	}
	return h.privateTo(s, to, text, cid)
}

// privateTo delivers a private message from s to the person of to. With a
// cid, the sending session gets echo, a copy carrying it; the others the
// plain one.
func (h *Hub) privateTo(s, to *Session, text, cid string) (echo *Event, err error) {
	ev := &Event{Kind: KindPrivate, From: s.Nick(), To: to.Nick(), Text: text, Time: h.now().Truncate(time.Millisecond), fromKey: s.fingerprint}
	if h.storePM {
		p := store.Private{From: ev.From, To: ev.To, Text: text, Time: ev.Time}
		if err := h.persist("private message", "message not sent: it could not be stored, please try again", func(ctx context.Context) error {
			return h.store.AppendPrivate(ctx, &p)
		}); err != nil {
			return nil, err
		}
		ev.ID = uint64(p.ID)
	} else {
		ev.ID = h.nextPM.Add(1)
	}
	h.noteLastPM(ev.ID)
	mine := ev // what the sending session gets
	if cid != "" {
		echo = &Event{Kind: KindPrivate, ID: ev.ID, From: ev.From, To: ev.To, Text: ev.Text, Time: ev.Time, CID: cid, fromKey: ev.fromKey}
		mine = echo
	}
	// Someone ignored is not told: the message is simply not delivered
	// (see Session.filtered), and is no one to /reply to.
	ignored := to.Preferences().ignores(ev)
	// Every session of the person it is for, and every session of the
	// sender's, each once (a message to oneself is one person).
	targets := h.sessionsOf(to)
	for _, t := range targets {
		t.mu.Lock()
		if !t.closed && !ignored { // a closed session keeps no other one alive (see Leave)
			t.replyTo = replyTarget{session: s, nick: ev.From, fingerprint: s.fingerprint}
		}
		t.mu.Unlock()
		if t == s {
			t.deliver(mine)
		} else {
			t.deliver(ev)
		}
	}
	if !ignored {
		h.copyPrivateElsewhere(to, ev)
	}
	away := to.awayReason()
	if to.person != s.person {
		for _, o := range h.sessionsOf(s) {
			if o == s {
				o.deliver(mine)
			} else {
				o.deliver(ev)
			}
		}
		// A message to oneself reached the other devices above.
		h.copyPrivateToSender(s, ev)
	}
	if away != "" {
		h.notice(s, fmt.Sprintf("%s is away: %s", ev.To, away))
	}
	return echo, nil
}

// olderMessages sends s up to limit messages of a room it is in, older than
// before (0: the newest), telling whether older ones remain.
func (h *Hub) olderMessages(s *Session, room string, before uint64, limit int) error {
	return h.historyPage(s, room, limit, before, func(ctx context.Context, name string, bound uint64, n int) ([]store.Message, error) {
		return h.store.History(ctx, name, int64(bound), n)
	}, &Event{Before: max(before, 1)})
}

// newerMessages sends s up to limit messages of a room it is in, newer than
// after, oldest first, telling whether newer ones remain: a client that
// was away asks for what followed the last message it holds.
func (h *Hub) newerMessages(s *Session, room string, after uint64, limit int) error {
	return h.historyPage(s, room, limit, after, h.storedAfter, &Event{After: after, Forward: true})
}

// storedAfter reads up to n of a room's stored messages after the ID
// bound, oldest first: a forward history page.
func (h *Hub) storedAfter(ctx context.Context, name string, bound uint64, n int) ([]store.Message, error) {
	return h.store.HistoryAfter(ctx, name, int64(bound), n)
}

// maxIgnoredPages bounds how many pages of history made only of messages
// from people a user ignores are read past for one request.
const maxIgnoredPages = 10

// historyPage sends s one page of a room's stored messages as reply (whose
// Before, or After and Forward, the caller set). read is asked for one
// message more than the page holds beyond bound, oldest first: if it is
// there, more remain beyond the page. A page left empty once the messages
// of people s ignores are taken out is followed by the next one, so that
// clients, which page from the last message they hold, move on.
func (h *Hub) historyPage(s *Session, room string, limit int, bound uint64, read func(context.Context, string, uint64, int) ([]store.Message, error), reply *Event) error {
	r, err := h.reachableRoom(s, room)
	if err != nil {
		return err
	}
	if err := h.readHistoryPage(s, r, limit, bound, read, reply); err != nil {
		return err
	}
	s.deliver(reply)
	return nil
}

// readHistoryPage makes reply the page of r's stored messages that
// historyPage sends s (the HTTP API's reads too, for its poster s).
func (h *Hub) readHistoryPage(s *Session, r *Room, limit int, bound uint64, read func(context.Context, string, uint64, int) ([]store.Message, error), reply *Event) error {
	if r.removed.Load() {
		return userErr("no_such_room", "there is no room #"+r.name)
	}
	if limit <= 0 || limit > maxHistoryPage {
		limit = maxHistoryPage
	}
	var page []*Event
	for range maxIgnoredPages {
		var msgs []store.Message
		if err := h.persist("history", "history is not available right now", func(ctx context.Context) error {
			var err error
			msgs, err = read(ctx, r.name, bound, limit+1)
			return err
		}, "room", r.name); err != nil {
			return err
		}
		reply.More = len(msgs) > limit
		if reply.More {
			if reply.Forward {
				msgs = msgs[:limit] // the extra one is the newest
			} else {
				msgs = msgs[len(msgs)-limit:] // the extra one is the oldest
			}
		}
		page = page[:0]
		for i := range msgs {
			page = append(page, eventFromStored(&msgs[i]))
		}
		if len(page) == 0 || !reply.More || !s.ignoresAll(page) {
			break
		}
		if reply.Forward {
			bound = page[len(page)-1].ID
		} else {
			bound = page[0].ID
		}
	}
	reply.Kind, reply.Room, reply.History, reply.Time = KindHistory, r.name, page, h.now()
	return nil
}

// HistoryRequest is olderMessages for a front-end, reporting errors to the user.
func (h *Hub) HistoryRequest(s *Session, room string, before uint64, limit int) {
	if !h.allowInput(s) {
		return
	}
	if err := h.olderMessages(s, room, before, limit); err != nil {
		h.fail(s, err)
	}
}

// HistoryAfterRequest is HistoryAfter for a front-end, reporting errors to
// the user.
func (h *Hub) HistoryAfterRequest(s *Session, room string, after uint64, limit int) {
	if !h.allowInput(s) {
		return
	}
	if err := h.newerMessages(s, room, after, limit); err != nil {
		h.fail(s, err)
	}
}

func (h *Hub) roomList() []RoomInfo {
	h.mu.Lock()
	rooms := make([]*Room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.Unlock()
	list := make([]RoomInfo, len(rooms))
	for i, r := range rooms {
		list[i] = r.info()
	}
	list = append(list, h.roomsServedElsewhere(list)...)
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// roomsServedElsewhere is, in a cluster, the shared store's rooms that are
// not in listed (this node's), each counted with the other nodes' members
// in it, as read at most storedRoomsEvery ago (roomdir.go).
func (h *Hub) roomsServedElsewhere(listed []RoomInfo) []RoomInfo {
	if h.bus == nil {
		return nil
	}
	here := make(map[string]bool, len(listed))
	for _, r := range listed {
		here[r.Name] = true
	}
	var out []RoomInfo
	for _, r := range h.storedRoomList(false) {
		if !here[r.Name] {
			out = append(out, r)
		}
	}
	return out
}

// whois describes a connected user, on this node or (with a Remote)
// another.
func (h *Hub) whois(asker *Session, nick string) (string, error) {
	t := h.sessionByNick(nick)
	if t == nil {
		if text, err, handled := h.whoisRemote(asker, nick); handled {
			return text, err
		}
		return "", userErr("no_such_nick", nick+" is not connected")
	}
	return h.whoisOf(t, asker.Preferences().Location, asker == t || asker.IsOperator()), nil
}

// whoisOf describes t, with times in loc, and its address if showAddress.
func (h *Hub) whoisOf(t *Session, loc *time.Location, showAddress bool) string {
	now := h.now()
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", t.Nick(), t.via)
	if t.bot {
		b.WriteString("\n  a bot")
	}
	fmt.Fprintf(&b, "\n  connected since %s (%s ago)", t.since.In(loc).Format("2006-01-02 15:04:05 MST"), roundDur(now.Sub(t.since)))
	// Idle since the person's last input on any of its devices.
	sessions := h.sessionsOf(t)
	idleSince := t.since
	for _, o := range sessions {
		if last := o.lastActive.Load(); last != 0 && time.Unix(0, last).After(idleSince) {
			idleSince = time.Unix(0, last)
		}
	}
	fmt.Fprintf(&b, "\n  idle %s", roundDur(now.Sub(idleSince)))
	if rooms := t.Rooms(); len(rooms) > 0 {
		fmt.Fprintf(&b, "\n  in #%s", strings.Join(rooms, " #"))
	}
	if away := t.awayReason(); away != "" {
		fmt.Fprintf(&b, "\n  away: %s", away)
	}
	if len(sessions) > 1 {
		vias := make([]string, len(sessions))
		for i, o := range sessions {
			vias[i] = string(o.via)
		}
		fmt.Fprintf(&b, "\n  devices: %d (%s)", len(sessions), strings.Join(vias, ", "))
	}
	switch {
	case t.isRegistered():
		fmt.Fprintf(&b, "\n  registered, key %s", t.fingerprint)
	case t.fingerprint != "":
		fmt.Fprintf(&b, "\n  guest nick, key %s", t.fingerprint)
	default:
		b.WriteString("\n  guest (no key)")
	}
	if t.IsOperator() {
		b.WriteString("\n  operator")
	}
	if showAddress && t.remote != "" {
		fmt.Fprintf(&b, "\n  address %s", t.remote)
	}
	return b.String()
}

func roundDur(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

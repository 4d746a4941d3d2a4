package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is a Store that keeps everything in the process, under one mutex:
// what a hub uses when it is given no store (unit tests and benchmarks). It
// keeps every message and is not bounded: the binary always uses SQLite. It answers as SQLite does: the same IDs, order,
// paging, expiry and ErrExists/ErrNotFound results; storetest holds both
// to that. Times are kept to the millisecond, as SQLite stores them.
type Memory struct {
	mu     sync.Mutex
	closed bool

	lastID        int64 // of room entries; never reused, as AUTOINCREMENT
	lastPrivateID int64
	lastBanID     int64

	rooms     map[string]*memoryRoom
	privates  []Private
	regs      map[string]Registration // by fold
	ops       map[string]bool
	bans      []Ban // by ID
	mutes     map[string]Mute
	settings  map[string]string
	keyDocs   map[string]string // personal settings by key fingerprint
	codes     map[string]memoryCode
	webs      []WebSession // in the order they were added
	botTokens []BotToken
	// What keys carry between visits (see KeyStore), by fingerprint.
	keyRooms map[string][]string
	keyLines map[string][]string // oldest first
	// What waits for keys while they are offline (see MailStore).
	waiting       []Waiting // by ID
	lastWaitingID int64
	mentions      map[string][]Mention // by fingerprint, oldest first
	lastMentionID int64
	seen          map[string]time.Time
	// readMarkers: by fingerprint, then target.
	readMarkers map[string]map[string]int64
}

type memoryRoom struct {
	room    Room      // HasEntries unset: see Rooms
	entries []Message // by ID, topic changes included
}

type memoryCode struct {
	fingerprint string
	expires     int64 // ms
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{
		rooms:    map[string]*memoryRoom{},
		regs:     map[string]Registration{},
		ops:      map[string]bool{},
		mutes:    map[string]Mute{},
		settings: map[string]string{},
		keyDocs:  map[string]string{},
		codes:    map[string]memoryCode{},
		keyRooms: map[string][]string{},
		keyLines: map[string][]string{},
		mentions: map[string][]Mention{},
		seen:     map[string]time.Time{},

		readMarkers: map[string]map[string]int64{},
	}
}

// lock takes the mutex for an operation, unless ctx has ended or the store
// is closed; the caller unlocks only when it returns nil.
func (s *Memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// msTime is t as SQLite gives it back: to the millisecond.
func msTime(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }

// appendLocked stores an entry of an existing room (SQLite's foreign key).
func (s *Memory) appendLocked(m *Message, kind string) error {
	r := s.rooms[m.Room]
	if r == nil {
		return fmt.Errorf("room %q: %w", m.Room, ErrNotFound)
	}
	s.lastID++
	m.ID = s.lastID
	r.entries = append(r.entries, Message{ID: m.ID, Room: m.Room, Kind: kind, From: m.From, Text: m.Text, Time: msTime(m.Time)})
	return nil
}

// AppendMessage implements Store.
func (s *Memory) AppendMessage(ctx context.Context, m *Message) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.appendLocked(m, m.Kind)
}

// QueueMessage implements QueuedAppender. m is stored at once, so messages
// queued in order get increasing IDs in that order; wait only reports the
// outcome (nothing is left for a context to cancel).
func (s *Memory) QueueMessage(m *Message) func(context.Context) error {
	err := s.AppendMessage(context.Background(), m)
	return func(context.Context) error { return err }
}

// History implements Store.
func (s *Memory) History(ctx context.Context, room string, before int64, limit int) ([]Message, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	r := s.rooms[room]
	if r == nil {
		return nil, nil
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	var out []Message // newest first, then reversed, as SQLite's LIMIT
	for i := len(r.entries) - 1; i >= 0 && (limit < 0 || len(out) < limit); i-- {
		if m := r.entries[i]; m.ID < before && (m.Kind == KindMessage || m.Kind == KindAction) {
			out = append(out, m)
		}
	}
	slices.Reverse(out)
	return out, nil
}

// HistoryAfter implements Store.
func (s *Memory) HistoryAfter(ctx context.Context, room string, after int64, limit int) ([]Message, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	r := s.rooms[room]
	if r == nil {
		return nil, nil
	}
	// Entries are in ID order.
	i, _ := slices.BinarySearchFunc(r.entries, after+1, func(m Message, id int64) int { return cmp.Compare(m.ID, id) })
	var out []Message
	for ; i < len(r.entries) && (limit < 0 || len(out) < limit); i++ {
		if m := r.entries[i]; m.Kind == KindMessage || m.Kind == KindAction {
			out = append(out, m)
		}
	}
	return out, nil
}

// EnsureRoom implements Store.
func (s *Memory) EnsureRoom(ctx context.Context, r Room) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.rooms[r.Name] == nil {
		s.rooms[r.Name] = &memoryRoom{room: Room{Name: r.Name, CreatedAt: msTime(r.CreatedAt)}}
	}
	return nil
}

// SetTopic implements Store.
func (s *Memory) SetTopic(ctx context.Context, m *Message) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.appendLocked(m, KindTopic); err != nil {
		return err
	}
	r := &s.rooms[m.Room].room
	r.Topic, r.TopicBy, r.TopicAt = m.Text, m.From, fromMS(m.Time.UnixMilli())
	return nil
}

// Rooms implements Store.
func (s *Memory) Rooms(ctx context.Context) ([]Room, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []Room
	for _, r := range s.rooms {
		room := r.room
		room.HasEntries = len(r.entries) > 0
		out = append(out, room)
	}
	slices.SortFunc(out, func(a, b Room) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// StoredRoom implements RoomReader.
func (s *Memory) StoredRoom(ctx context.Context, name string) (Room, error) {
	if err := s.lock(ctx); err != nil {
		return Room{}, err
	}
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		return Room{}, ErrNotFound
	}
	room := r.room
	room.HasEntries = len(r.entries) > 0
	return room, nil
}

// DeleteRoom implements Store.
func (s *Memory) DeleteRoom(ctx context.Context, name string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.rooms, name)
	return nil
}

// DeleteUnusedRoom implements UnusedRoomDeleter.
func (s *Memory) DeleteUnusedRoom(ctx context.Context, name string) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil || len(r.entries) > 0 || r.room.Topic != "" || r.room.TopicLocked {
		return false, nil
	}
	delete(s.rooms, name)
	return true, nil
}

// AppendPrivate implements Store.
func (s *Memory) AppendPrivate(ctx context.Context, p *Private) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.lastPrivateID++
	p.ID = s.lastPrivateID
	kept := *p
	kept.Time = msTime(p.Time)
	s.privates = append(s.privates, kept)
	return nil
}

// Ping implements Store.
func (s *Memory) Ping(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Ready is the readiness check, as SQLite's: memory is always writable.
func (s *Memory) Ready(ctx context.Context) error { return s.Ping(ctx) }

// Close implements Store: later operations fail with ErrClosed.
func (s *Memory) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Registrations implements IdentityStore: oldest first.
func (s *Memory) Registrations(ctx context.Context) ([]Registration, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []Registration
	for _, r := range s.regs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Registration) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Fold, b.Fold))
	})
	return out, nil
}

// Register implements IdentityStore; ErrExists if the nick is taken.
func (s *Memory) Register(ctx context.Context, r Registration) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, taken := s.regs[r.Fold]; taken {
		return ErrExists
	}
	r.CreatedAt = fromMS(ms(r.CreatedAt))
	s.regs[r.Fold] = r
	return nil
}

// Unregister implements IdentityStore; ErrNotFound unless the key holds
// the nick.
func (s *Memory) Unregister(ctx context.Context, fold, fingerprint string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if r, ok := s.regs[fold]; !ok || r.Fingerprint != fingerprint {
		return ErrNotFound
	}
	delete(s.regs, fold)
	return nil
}

// AddLoginCode implements IdentityStore; ErrExists for a code already
// stored (SQLite: a constraint error).
func (s *Memory) AddLoginCode(ctx context.Context, codeHash, fingerprint string, expires time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, taken := s.codes[codeHash]; taken {
		return ErrExists
	}
	s.codes[codeHash] = memoryCode{fingerprint: fingerprint, expires: ms(expires)}
	return nil
}

// UseLoginCode implements IdentityStore: once, before it expires; a code
// used purges the expired ones.
func (s *Memory) UseLoginCode(ctx context.Context, codeHash string, now time.Time) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	c, ok := s.codes[codeHash]
	if !ok || c.expires <= ms(now) {
		return "", ErrNotFound
	}
	// As SQLite, which rolls the purge back with a code not found.
	for h, c := range s.codes {
		if c.expires <= ms(now) {
			delete(s.codes, h)
		}
	}
	delete(s.codes, codeHash)
	return c.fingerprint, nil
}

// AddWebSession implements IdentityStore; ErrExists for a token already
// stored (SQLite: a constraint error).
func (s *Memory) AddWebSession(ctx context.Context, w WebSession) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.webs, func(o WebSession) bool { return o.TokenHash == w.TokenHash }) {
		return ErrExists
	}
	w.CreatedAt, w.ExpiresAt = fromMS(ms(w.CreatedAt)), fromMS(ms(w.ExpiresAt))
	s.webs = append(s.webs, w)
	return nil
}

// live tells whether w has not expired at now.
func live(w WebSession, now time.Time) bool { return ms(w.ExpiresAt) > ms(now) }

// WebSessionByToken implements IdentityStore; ErrNotFound if the session
// is unknown or expired.
func (s *Memory) WebSessionByToken(ctx context.Context, tokenHash string, now time.Time) (WebSession, error) {
	if err := s.lock(ctx); err != nil {
		return WebSession{}, err
	}
	defer s.mu.Unlock()
	for _, w := range s.webs {
		if w.TokenHash == tokenHash && live(w, now) {
			return w, nil
		}
	}
	return WebSession{}, ErrNotFound
}

// WebSessions implements IdentityStore: a key's live sessions, oldest
// first.
func (s *Memory) WebSessions(ctx context.Context, fingerprint string, now time.Time) ([]WebSession, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []WebSession
	for _, w := range s.webs {
		if w.Fingerprint == fingerprint && live(w, now) {
			out = append(out, w)
		}
	}
	slices.SortStableFunc(out, func(a, b WebSession) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// DeleteWebSessions implements IdentityStore: every session of the key,
// expired ones included in the count, as SQLite.
func (s *Memory) DeleteWebSessions(ctx context.Context, fingerprint string) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	before := len(s.webs)
	s.webs = slices.DeleteFunc(s.webs, func(w WebSession) bool { return w.Fingerprint == fingerprint })
	return int64(before - len(s.webs)), nil
}

// DeleteWebSession implements IdentityStore (nothing if there is none).
func (s *Memory) DeleteWebSession(ctx context.Context, tokenHash string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.webs = slices.DeleteFunc(s.webs, func(w WebSession) bool { return w.TokenHash == tokenHash })
	return nil
}

// Operators implements ModerationStore.
func (s *Memory) Operators(ctx context.Context) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []string
	for fp := range s.ops {
		out = append(out, fp)
	}
	slices.Sort(out)
	return out, nil
}

// SetOperator implements ModerationStore.
func (s *Memory) SetOperator(ctx context.Context, fingerprint, by string, on bool, now time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if on {
		s.ops[fingerprint] = true
	} else {
		delete(s.ops, fingerprint)
	}
	return nil
}

// unexpired tells whether something expiring at expires (zero: never) is
// still in force at now.
func unexpired(expires, now time.Time) bool {
	return ms(expires) == 0 || ms(expires) > ms(now)
}

// Bans implements ModerationStore: those in force at now, by ID.
func (s *Memory) Bans(ctx context.Context, now time.Time) ([]Ban, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []Ban
	for _, b := range s.bans {
		if unexpired(b.Expires, now) {
			out = append(out, b)
		}
	}
	return out, nil
}

// AddBan implements ModerationStore.
func (s *Memory) AddBan(ctx context.Context, b *Ban) error {
	return s.AddBans(ctx, []*Ban{b})
}

// AddBans implements ModerationStore.
func (s *Memory) AddBans(ctx context.Context, bans []*Ban) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, b := range bans {
		s.lastBanID++
		b.ID = s.lastBanID
		kept := *b
		kept.CreatedAt, kept.Expires = fromMS(ms(b.CreatedAt)), fromMS(ms(b.Expires))
		s.bans = append(s.bans, kept)
	}
	return nil
}

// RemoveBans implements ModerationStore: expired bans on value count too.
func (s *Memory) RemoveBans(ctx context.Context, value string) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	before := len(s.bans)
	s.bans = slices.DeleteFunc(s.bans, func(b Ban) bool { return b.Value == value })
	return int64(before - len(s.bans)), nil
}

// Mutes implements ModerationStore: those in force at now.
func (s *Memory) Mutes(ctx context.Context, now time.Time) ([]Mute, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []Mute
	for _, m := range s.mutes {
		if unexpired(m.Expires, now) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Mute) int { return cmp.Compare(a.Target, b.Target) })
	return out, nil
}

// SetMute implements ModerationStore: it replaces a mute of the target.
func (s *Memory) SetMute(ctx context.Context, m Mute) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	m.Expires = fromMS(ms(m.Expires))
	s.mutes[m.Target] = m
	return nil
}

// RemoveMute implements ModerationStore.
func (s *Memory) RemoveMute(ctx context.Context, target string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.mutes, target)
	return nil
}

// Setting implements ModerationStore ("" if unset).
func (s *Memory) Setting(ctx context.Context, key string) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	return s.settings[key], nil
}

// SetSetting implements ModerationStore.
func (s *Memory) SetSetting(ctx context.Context, key, value string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.settings[key] = value
	return nil
}

// SetTopicLocked implements ModerationStore (nothing for a missing room).
func (s *Memory) SetTopicLocked(ctx context.Context, room string, locked bool) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if r := s.rooms[room]; r != nil {
		r.room.TopicLocked = locked
	}
	return nil
}

var (
	_ Store          = (*Memory)(nil)
	_ QueuedAppender = (*Memory)(nil)
)

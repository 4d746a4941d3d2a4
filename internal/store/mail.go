package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"
)

// Waiting is a private message kept for a registered key that was offline
// when it was sent, until the key next connects.
type Waiting struct {
	ID int64
	// Fingerprint is the recipient's key; To the registered nick it was
	// sent to.
	Fingerprint string
	From        string
	// FromKey is the sender's key fingerprint, "" for a guest: the
	// recipient's ignore list matches it.
	FromKey string
	To      string
	Text    string
	Time    time.Time
	// PrivateID is the id of the same message among the stored private
	// messages (--store-private), 0 if it is not one: both ends then see
	// it under one id.
	PrivateID int64
}

// Mention is a room message naming a registered key's nick, found while
// the key was offline.
type Mention struct {
	ID          int64
	Fingerprint string
	Room        string
	MessageID   int64
	From        string
	Text        string
	Time        time.Time
}

// ErrMailboxFull is returned by AddWaiting when the key already has as
// many waiting messages as it may.
var ErrMailboxFull = errors.New("too many messages waiting")

// MailStore keeps what waits for a registered key while it is offline:
// private messages sent to it, the mentions of it found at its return,
// and when it was last seen.
type MailStore interface {
	// AddWaiting stores w and sets w.ID, unless w's key already has max
	// waiting messages (ErrMailboxFull).
	AddWaiting(ctx context.Context, w *Waiting, max int) error
	// TakeWaiting returns the key's waiting messages sent after since,
	// oldest first, and deletes all of the key's waiting messages: two
	// callers never both get one.
	TakeWaiting(ctx context.Context, fingerprint string, since time.Time) ([]Waiting, error)
	// AddMentions stores the key's mentions (in the order given) and keeps
	// only its newest keep of them.
	AddMentions(ctx context.Context, fingerprint string, ms []Mention, keep int) error
	// Mentions returns the key's newest mentions made after since, at most
	// limit, oldest first.
	Mentions(ctx context.Context, fingerprint string, since time.Time, limit int) ([]Mention, error)
	// KeySeen is when the key's last session ended (zero if not known).
	KeySeen(ctx context.Context, fingerprint string) (time.Time, error)
	// SetKeysSeen records when the last session of each of the keys ended
	// (one transaction: a stopping server records all its keys at once).
	SetKeysSeen(ctx context.Context, fingerprints []string, at time.Time) error
	// MessagesSince returns up to limit of a room's newest messages and
	// actions sent after since, oldest first.
	MessagesSince(ctx context.Context, room string, since time.Time, limit int) ([]Message, error)
	// PruneMail deletes the waiting messages and mentions sent before
	// before, and tells how many went.
	PruneMail(ctx context.Context, before time.Time) (int64, error)
}

// AddWaiting implements MailStore.
func (s *sqlStore) AddWaiting(ctx context.Context, w *Waiting, max int) error {
	// One statement: the count and the insert cannot be split by another
	// writer.
	// Typed parameters: PostgreSQL cannot tell a bare SELECT's types.
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO waiting_messages(fingerprint, sender, sender_key, recipient, text, ts, private_id)
		SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT)
		WHERE (SELECT COUNT(*) FROM waiting_messages WHERE fingerprint = ?) < ? RETURNING id`),
		w.Fingerprint, w.From, w.FromKey, w.To, w.Text, w.Time.UnixMilli(), w.PrivateID, w.Fingerprint, max).Scan(&w.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrMailboxFull
	}
	s.health.note(err)
	return err
}

// TakeWaiting implements MailStore.
func (s *sqlStore) TakeWaiting(ctx context.Context, fingerprint string, since time.Time) ([]Waiting, error) {
	// Most connections find nothing waiting: a read answers them without
	// taking the database's write lock.
	var waiting bool
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM waiting_messages WHERE fingerprint = ?)`), fingerprint).Scan(&waiting); err != nil || !waiting {
		return nil, err
	}
	// DELETE ... RETURNING is one statement: of two concurrent takers, one
	// gets the rows, the other none.
	rows, err := s.db.QueryContext(ctx, s.q(`DELETE FROM waiting_messages WHERE fingerprint = ?
		RETURNING id, sender, sender_key, recipient, text, ts, private_id`), fingerprint)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Waiting
	for rows.Next() {
		w := Waiting{Fingerprint: fingerprint}
		var ts int64
		if err := rows.Scan(&w.ID, &w.From, &w.FromKey, &w.To, &w.Text, &ts, &w.PrivateID); err != nil {
			return nil, err
		}
		w.Time = time.UnixMilli(ts)
		if w.Time.After(since) {
			out = append(out, w)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// RETURNING gives no order.
	slices.SortFunc(out, func(a, b Waiting) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// AddMentions implements MailStore.
func (s *sqlStore) AddMentions(ctx context.Context, fingerprint string, ms []Mention, keep int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, m := range ms {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO key_mentions(fingerprint, room, message_id, sender, text, ts) VALUES (?, ?, ?, ?, ?, ?)`),
			fingerprint, m.Room, m.MessageID, m.From, m.Text, m.Time.UnixMilli()); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM key_mentions WHERE fingerprint = ? AND id NOT IN
		(SELECT id FROM key_mentions WHERE fingerprint = ? ORDER BY id DESC LIMIT ?)`), fingerprint, fingerprint, max(keep, 0)); err != nil {
		return err
	}
	return tx.Commit()
}

// Mentions implements MailStore.
func (s *sqlStore) Mentions(ctx context.Context, fingerprint string, since time.Time, limit int) ([]Mention, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, room, message_id, sender, text, ts FROM key_mentions
		WHERE fingerprint = ? AND ts > ? ORDER BY id DESC LIMIT ?`), fingerprint, since.UnixMilli(), max(limit, 0))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Mention
	for rows.Next() {
		m := Mention{Fingerprint: fingerprint}
		var ts int64
		if err := rows.Scan(&m.ID, &m.Room, &m.MessageID, &m.From, &m.Text, &ts); err != nil {
			return nil, err
		}
		m.Time = time.UnixMilli(ts)
		out = append(out, m)
	}
	slices.Reverse(out)
	return out, rows.Err()
}

// KeySeen implements MailStore.
func (s *sqlStore) KeySeen(ctx context.Context, fingerprint string) (time.Time, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT seen_at FROM key_seen WHERE fingerprint = ?`), fingerprint).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return fromMS(at), err
}

// SetKeysSeen implements MailStore.
func (s *sqlStore) SetKeysSeen(ctx context.Context, fingerprints []string, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, fp := range fingerprints {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO key_seen(fingerprint, seen_at) VALUES (?, ?)
			ON CONFLICT(fingerprint) DO UPDATE SET seen_at = excluded.seen_at`), fp, ms(at)); err != nil {
			return err
		}
	}
	_, err = s.noteWrite(nil, tx.Commit())
	return err
}

// MessagesSince implements MailStore. It reads the room's messages newest
// first (by the room's id index) and stops at the first one not after
// since, so that it reads no more than it returns, plus one.
func (s *sqlStore) MessagesSince(ctx context.Context, room string, since time.Time, limit int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, room, kind, sender, text, ts FROM messages
		WHERE room = ? AND kind IN ('message', 'action') ORDER BY id DESC LIMIT ?`), room, max(limit, 0))
	if err != nil {
		return nil, err
	}
	out, err := scanMessagesWhile(rows, func(m *Message) bool { return m.Time.After(since) })
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// PruneMail implements MailStore.
func (s *sqlStore) PruneMail(ctx context.Context, before time.Time) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var total int64
	for _, q := range []string{`DELETE FROM waiting_messages WHERE ts < ?`, `DELETE FROM key_mentions WHERE ts < ?`} {
		res, err := tx.ExecContext(ctx, s.q(q), before.UnixMilli())
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, tx.Commit()
}

// AddWaiting implements MailStore.
func (s *Memory) AddWaiting(ctx context.Context, w *Waiting, max int) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	n := 0
	for _, o := range s.waiting {
		if o.Fingerprint == w.Fingerprint {
			n++
		}
	}
	if n >= max {
		return ErrMailboxFull
	}
	s.lastWaitingID++
	w.ID = s.lastWaitingID
	kept := *w
	kept.Time = msTime(w.Time)
	s.waiting = append(s.waiting, kept)
	return nil
}

// TakeWaiting implements MailStore.
func (s *Memory) TakeWaiting(ctx context.Context, fingerprint string, since time.Time) ([]Waiting, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []Waiting
	kept := s.waiting[:0]
	for _, w := range s.waiting {
		switch {
		case w.Fingerprint != fingerprint:
			kept = append(kept, w)
		case w.Time.After(since):
			out = append(out, w)
		}
	}
	clear(s.waiting[len(kept):])
	s.waiting = kept
	return out, nil
}

// AddMentions implements MailStore.
func (s *Memory) AddMentions(ctx context.Context, fingerprint string, ms []Mention, keep int) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	list := s.mentions[fingerprint]
	for _, m := range ms {
		s.lastMentionID++
		m.ID, m.Fingerprint, m.Time = s.lastMentionID, fingerprint, msTime(m.Time)
		list = append(list, m)
	}
	list = list[max(0, len(list)-max(keep, 0)):]
	if len(list) == 0 {
		delete(s.mentions, fingerprint)
	} else {
		s.mentions[fingerprint] = slices.Clip(list)
	}
	return nil
}

// Mentions implements MailStore.
func (s *Memory) Mentions(ctx context.Context, fingerprint string, since time.Time, limit int) ([]Mention, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []Mention
	for _, m := range s.mentions[fingerprint] {
		if m.Time.After(since) {
			out = append(out, m)
		}
	}
	return out[max(0, len(out)-max(limit, 0)):], nil
}

// KeySeen implements MailStore.
func (s *Memory) KeySeen(ctx context.Context, fingerprint string) (time.Time, error) {
	if err := s.lock(ctx); err != nil {
		return time.Time{}, err
	}
	defer s.mu.Unlock()
	return s.seen[fingerprint], nil
}

// SetKeysSeen implements MailStore.
func (s *Memory) SetKeysSeen(ctx context.Context, fingerprints []string, at time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, fp := range fingerprints {
		s.seen[fp] = msTime(at)
	}
	return nil
}

// MessagesSince implements MailStore.
func (s *Memory) MessagesSince(ctx context.Context, room string, since time.Time, limit int) ([]Message, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	r := s.rooms[room]
	if r == nil {
		return nil, nil
	}
	var out []Message
	for i := len(r.entries) - 1; i >= 0 && len(out) < limit; i-- {
		m := r.entries[i]
		if m.Kind != KindMessage && m.Kind != KindAction {
			continue
		}
		if !m.Time.After(since) {
			break
		}
		out = append(out, m)
	}
	slices.Reverse(out)
	return out, nil
}

// PruneMail implements MailStore.
func (s *Memory) PruneMail(ctx context.Context, before time.Time) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	var n int64
	kept := s.waiting[:0]
	for _, w := range s.waiting {
		if w.Time.Before(before) {
			n++
			continue
		}
		kept = append(kept, w)
	}
	clear(s.waiting[len(kept):])
	s.waiting = kept
	for fp, list := range s.mentions {
		left := slices.DeleteFunc(list, func(m Mention) bool { return m.Time.Before(before) })
		n += int64(len(list) - len(left))
		if len(left) == 0 {
			delete(s.mentions, fp)
		} else {
			s.mentions[fp] = left
		}
	}
	return n, nil
}

// forgetMailLocked deletes what waits for a key (ForgetKey). s.mu must be
// held.
func (s *Memory) forgetMailLocked(fingerprint string) {
	s.waiting = slices.DeleteFunc(s.waiting, func(w Waiting) bool { return w.Fingerprint == fingerprint })
	delete(s.mentions, fingerprint)
	delete(s.seen, fingerprint)
}

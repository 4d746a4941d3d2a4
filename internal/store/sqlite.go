package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // pure-Go driver: the binary stays static
)

// dbFile is the database's name inside the data folder.
const dbFile = "tertulia.db"

// SQLite is the embedded Store: one file in the data folder, WAL mode.
// Messages are committed in groups (see batch.go).
type SQLite struct {
	sqlStore
	ck    *sql.DB // the checkpointer's own connection
	batch *batcher

	closeOnce sync.Once
	stopCk    chan struct{}
	ckDone    chan struct{}
}

// insertMessage is prepared once: every room message runs it.
const insertMessage = `INSERT INTO messages(room, kind, sender, text, ts) VALUES (?, ?, ?, ?, ?)`

// sqliteMigrations are applied in order, each once; append, never edit.
// postgresMigrations (postgres.go) has the same schema version by version.
var sqliteMigrations = []string{
	// 1: rooms and their entries.
	`CREATE TABLE rooms (
		name       TEXT PRIMARY KEY,
		topic      TEXT NOT NULL DEFAULT '',
		topic_by   TEXT NOT NULL DEFAULT '',
		topic_at   INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE messages (
		id     INTEGER PRIMARY KEY AUTOINCREMENT,
		room   TEXT NOT NULL REFERENCES rooms(name),
		kind   TEXT NOT NULL,
		sender TEXT NOT NULL,
		text   TEXT NOT NULL,
		ts     INTEGER NOT NULL
	);
	CREATE INDEX messages_room_id ON messages(room, id);`,
	// 2: private messages, stored only when the operator asks.
	`CREATE TABLE private_messages (
		id        INTEGER PRIMARY KEY AUTOINCREMENT,
		sender    TEXT NOT NULL,
		recipient TEXT NOT NULL,
		text      TEXT NOT NULL,
		ts        INTEGER NOT NULL
	);`,
	// 3: identity and moderation.
	`CREATE TABLE registrations (
		fold        TEXT PRIMARY KEY,
		nick        TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		created_at  INTEGER NOT NULL
	);
	CREATE INDEX registrations_key ON registrations(fingerprint);
	CREATE TABLE operators (
		fingerprint TEXT PRIMARY KEY,
		granted_by  TEXT NOT NULL,
		created_at  INTEGER NOT NULL
	);
	CREATE TABLE bans (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		kind       TEXT NOT NULL,
		value      TEXT NOT NULL,
		reason     TEXT NOT NULL,
		by_nick    TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE mutes (
		target     TEXT PRIMARY KEY,
		by_nick    TEXT NOT NULL,
		expires_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE settings (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);
	CREATE TABLE login_codes (
		code_hash   TEXT PRIMARY KEY,
		fingerprint TEXT NOT NULL,
		expires_at  INTEGER NOT NULL
	);
	CREATE TABLE web_sessions (
		token_hash  TEXT PRIMARY KEY,
		fingerprint TEXT NOT NULL,
		created_at  INTEGER NOT NULL,
		expires_at  INTEGER NOT NULL
	);
	CREATE INDEX web_sessions_key ON web_sessions(fingerprint);
	ALTER TABLE rooms ADD COLUMN topic_locked INTEGER NOT NULL DEFAULT 0;`,
	// 4: each key's personal settings (ignore list, zone, theme...), one
	// document per key fingerprint.
	`CREATE TABLE key_settings (
		fingerprint TEXT PRIMARY KEY,
		document    TEXT NOT NULL,
		updated_at  INTEGER NOT NULL
	);`,
	// 5: what a key carries from one visit to the next.
	`CREATE TABLE key_rooms (
		fingerprint TEXT NOT NULL,
		position    INTEGER NOT NULL,
		room        TEXT NOT NULL,
		PRIMARY KEY (fingerprint, position)
	);
	CREATE TABLE key_input_history (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		fingerprint TEXT NOT NULL,
		line        TEXT NOT NULL
	);
	CREATE INDEX key_input_history_key ON key_input_history(fingerprint, id);`,
	// 6: what waits for a registered key while it is offline: private
	// messages sent to it, the mentions of it found at its return, and
	// when its last session ended.
	`CREATE TABLE waiting_messages (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		fingerprint TEXT NOT NULL,
		sender      TEXT NOT NULL,
		sender_key  TEXT NOT NULL,
		recipient   TEXT NOT NULL,
		text        TEXT NOT NULL,
		ts          INTEGER NOT NULL,
		private_id  INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX waiting_messages_key ON waiting_messages(fingerprint, id);
	CREATE INDEX waiting_messages_ts ON waiting_messages(ts);
	CREATE TABLE key_mentions (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		fingerprint TEXT NOT NULL,
		room        TEXT NOT NULL,
		message_id  INTEGER NOT NULL,
		sender      TEXT NOT NULL,
		text        TEXT NOT NULL,
		ts          INTEGER NOT NULL
	);
	CREATE INDEX key_mentions_key ON key_mentions(fingerprint, id);
	CREATE INDEX key_mentions_ts ON key_mentions(ts);
	CREATE TABLE key_seen (
		fingerprint TEXT PRIMARY KEY,
		seen_at     INTEGER NOT NULL
	);`,
	// 7: read markers: per key and conversation, the last message read.
	`CREATE TABLE read_markers (
		fingerprint TEXT NOT NULL,
		target      TEXT NOT NULL,
		last_id     INTEGER NOT NULL,
		PRIMARY KEY (fingerprint, target)
	);`,
	// 8: bot tokens: named, per key, bound to one of its nicks; kept hashed.
	`CREATE TABLE bot_tokens (
		token_hash  TEXT PRIMARY KEY,
		fingerprint TEXT NOT NULL,
		name        TEXT NOT NULL,
		nick        TEXT NOT NULL,
		created_at  INTEGER NOT NULL,
		UNIQUE (fingerprint, name)
	);`,
}

// Synchronous modes (--sqlite-sync). Full: every commit is on the disk
// before anyone sees its message, so an OS crash or a power cut loses
// nothing anyone saw (an fsync per group commit: about 0.5 ms on the
// reference machine's virtual disk). Normal: the same after a process crash
// (kill -9), but an OS crash or power cut may lose the last commits since
// the last checkpoint.
const (
	SyncFull    = "full"
	SyncNormal  = "normal"
	DefaultSync = SyncFull
)

// ParseSync checks a --sqlite-sync value.
func ParseSync(mode string) (string, error) {
	switch m := strings.ToLower(strings.TrimSpace(mode)); m {
	case SyncFull, SyncNormal:
		return m, nil
	}
	return "", fmt.Errorf("must be %s or %s, not %q", SyncFull, SyncNormal, mode)
}

// Option configures OpenSQLite.
type Option func(*options)

type options struct{ sync string }

// WithSync sets the synchronous mode (SyncFull, SyncNormal).
func WithSync(mode string) Option { return func(o *options) { o.sync = mode } }

// OpenSQLite opens (creating if needed) the database in dir and brings its
// schema up to date.
func OpenSQLite(ctx context.Context, dir string, opts ...Option) (*SQLite, error) {
	o := options{sync: DefaultSync}
	for _, opt := range opts {
		opt(&o)
	}
	syncMode, err := ParseSync(o.sync)
	if err != nil {
		return nil, fmt.Errorf("synchronous mode: %w", err)
	}
	path := filepath.Join(dir, dbFile)
	dsn := func(pragmas ...string) string {
		q := url.Values{}
		for _, p := range append([]string{"journal_mode(WAL)", "synchronous(" + strings.ToUpper(syncMode) + ")", "busy_timeout(5000)", "foreign_keys(ON)"}, pragmas...) {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	// The writer checkpoints by itself only as a backstop: the background
	// checkpointer does it off the append path.
	// After a burst the WAL file is cut back to the length at which it is
	// made to start over.
	db, err := sql.Open("sqlite", dsn(fmt.Sprintf("wal_autocheckpoint(%d)", walBackstopPages),
		fmt.Sprintf("journal_size_limit(%d)", walRestartPages*4096)))
	if err != nil {
		return nil, err
	}
	// One writer at a time is SQLite's rule; one connection also keeps
	// the pragmas in force and makes writes strictly ordered.
	db.SetMaxOpenConns(1)
	s := &SQLite{sqlStore: sqlStore{db: db, health: &writeHealth{}, dialect: sqliteDialect}, stopCk: make(chan struct{}), ckDone: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	ins, err := db.PrepareContext(ctx, insertMessage)
	if err != nil {
		db.Close()
		return nil, err
	}
	ck, err := sql.Open("sqlite", dsn())
	if err != nil {
		db.Close()
		return nil, err
	}
	ck.SetMaxOpenConns(1)
	s.ck = ck
	s.batch = newBatcher(db, ins)
	s.batch.health = s.health
	go s.batch.checkpointLoop(ck, s.stopCk, s.ckDone)
	return s, nil
}

// AppendMessage implements Store: m joins the next group commit.
func (s *SQLite) AppendMessage(ctx context.Context, m *Message) error {
	return s.batch.enqueue(m).wait(ctx)
}

// QueueMessage implements QueuedAppender.
func (s *SQLite) QueueMessage(m *Message) func(context.Context) error {
	return s.batch.enqueue(m).wait
}

// History implements Store.
func (s *sqlStore) History(ctx context.Context, room string, before int64, limit int) ([]Message, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, room, kind, sender, text, ts FROM messages
		WHERE room = ? AND id < ? AND kind IN ('message', 'action') ORDER BY id DESC LIMIT ?`), room, before, limit)
	if err != nil {
		return nil, err
	}
	out, err := scanMessages(rows)
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// HistoryAfter implements Store.
func (s *sqlStore) HistoryAfter(ctx context.Context, room string, after int64, limit int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, room, kind, sender, text, ts FROM messages
		WHERE room = ? AND id > ? AND kind IN ('message', 'action') ORDER BY id LIMIT ?`), room, after, limit)
	if err != nil {
		return nil, err
	}
	return scanMessages(rows)
}

// EntriesAfter implements EntryReader.
func (s *sqlStore) EntriesAfter(ctx context.Context, room string, after int64, limit int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, room, kind, sender, text, ts FROM messages
		WHERE room = ? AND id > ? ORDER BY id LIMIT ?`), room, after, limit)
	if err != nil {
		return nil, err
	}
	return scanMessages(rows)
}

// scanMessages reads the rows of a history query (id, room, kind, sender,
// text, ts) and closes them.
func scanMessages(rows *sql.Rows) ([]Message, error) {
	return scanMessagesWhile(rows, nil)
}

// scanMessagesWhile is scanMessages stopping at the first row keep (if
// given) refuses.
func scanMessagesWhile(rows *sql.Rows, keep func(*Message) bool) ([]Message, error) {
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var ts int64
		if err := rows.Scan(&m.ID, &m.Room, &m.Kind, &m.From, &m.Text, &ts); err != nil {
			return nil, err
		}
		m.Time = time.UnixMilli(ts)
		if keep != nil && !keep(&m) {
			break
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// EnsureRoom implements Store.
func (s *sqlStore) EnsureRoom(ctx context.Context, r Room) error {
	_, err := s.noteWrite(s.db.ExecContext(ctx, s.q(`INSERT INTO rooms(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING`),
		r.Name, r.CreatedAt.UnixMilli()))
	return err
}

// SetTopic implements Store.
func (s *sqlStore) SetTopic(ctx context.Context, m *Message) error {
	err := s.setTopic(ctx, m)
	s.health.note(err)
	return err
}

func (s *sqlStore) setTopic(ctx context.Context, m *Message) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var id int64
	if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO messages(room, kind, sender, text, ts) VALUES (?, ?, ?, ?, ?) RETURNING id`),
		m.Room, KindTopic, m.From, m.Text, m.Time.UnixMilli()).Scan(&id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE rooms SET topic = ?, topic_by = ?, topic_at = ? WHERE name = ?`),
		m.Text, m.From, m.Time.UnixMilli(), m.Room); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	m.ID = id
	return nil
}

// roomColumns are what Rooms and StoredRoom read of a room (scanRoom).
const roomColumns = `name, topic, topic_by, topic_at, created_at, topic_locked,
		EXISTS (SELECT 1 FROM messages WHERE messages.room = rooms.name)`

// Rooms implements Store.
func (s *sqlStore) Rooms(ctx context.Context) ([]Room, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+roomColumns+` FROM rooms ORDER BY name`))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Room
	for rows.Next() {
		r, err := scanRoom(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// StoredRoom implements RoomReader.
func (s *sqlStore) StoredRoom(ctx context.Context, name string) (Room, error) {
	r, err := scanRoom(s.db.QueryRowContext(ctx, s.q(`SELECT `+roomColumns+` FROM rooms WHERE name = ?`), name).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Room{}, ErrNotFound
	}
	return r, err
}

// scanRoom reads one row of roomColumns.
func scanRoom(scan func(...any) error) (Room, error) {
	var r Room
	var topicAt, created int64
	if err := scan(&r.Name, &r.Topic, &r.TopicBy, &topicAt, &created, &r.TopicLocked, &r.HasEntries); err != nil {
		return Room{}, err
	}
	if topicAt > 0 {
		r.TopicAt = time.UnixMilli(topicAt)
	}
	r.CreatedAt = time.UnixMilli(created)
	return r, nil
}

// DeleteRoom implements Store.
func (s *sqlStore) DeleteRoom(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM messages WHERE room = ?`), name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM rooms WHERE name = ?`), name); err != nil {
		return err
	}
	return tx.Commit()
}

// DeleteUnusedRoom implements UnusedRoomDeleter. An entry stored at the
// same moment either comes first (the room is kept) or finds no room.
func (s *sqlStore) DeleteUnusedRoom(ctx context.Context, name string) (bool, error) {
	res, err := s.noteWrite(s.db.ExecContext(ctx, s.q(`DELETE FROM rooms WHERE name = ? AND topic = '' AND NOT topic_locked
		AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.room = rooms.name)`), name))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// AppendPrivate implements Store.
func (s *sqlStore) AppendPrivate(ctx context.Context, p *Private) error {
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO private_messages(sender, recipient, text, ts) VALUES (?, ?, ?, ?) RETURNING id`),
		p.From, p.To, p.Text, p.Time.UnixMilli()).Scan(&p.ID)
	s.health.note(err)
	return err
}

// Ping implements Store.
func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close implements Store: it answers every queued append (committing it)
// and refuses later ones; the WAL is checkpointed by SQLite on the last
// close.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.batch.close()
		close(s.stopCk)
		<-s.ckDone
		s.ck.Close()
	})
	return s.db.Close()
}

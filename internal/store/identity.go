package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Registration binds a nick to the key that registered it.
type Registration struct {
	Nick        string // as registered
	Fold        string // comparison key of the nick
	Fingerprint string
	CreatedAt   time.Time
}

// Ban refuses a key or an address range.
type Ban struct {
	ID        int64
	Kind      string // "key" or "ip"
	Value     string // fingerprint, or a CIDR prefix
	Reason    string
	By        string
	CreatedAt time.Time
	Expires   time.Time // zero: never
}

// Mute silences a key or a nick.
type Mute struct {
	Target  string // "key:SHA256:..." or "nick:<fold>"
	By      string
	Expires time.Time // zero: never
}

// WebSession is a browser signed in as the owner of a key.
type WebSession struct {
	TokenHash   string
	Fingerprint string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// ErrExists is returned when a unique thing already exists.
var ErrExists = errors.New("already exists")

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

// Registrations returns every registration.
func (s *sqlStore) Registrations(ctx context.Context) ([]Registration, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT nick, fold, fingerprint, created_at FROM registrations ORDER BY created_at, fold`))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Registration
	for rows.Next() {
		var r Registration
		var created int64
		if err := rows.Scan(&r.Nick, &r.Fold, &r.Fingerprint, &created); err != nil {
			return nil, err
		}
		r.CreatedAt = fromMS(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Register stores a registration; ErrExists if the nick is taken.
func (s *sqlStore) Register(ctx context.Context, r Registration) error {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO registrations(fold, nick, fingerprint, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(fold) DO NOTHING`),
		r.Fold, r.Nick, r.Fingerprint, ms(r.CreatedAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrExists
	}
	return nil
}

// Unregister removes the key's registration of a nick.
func (s *sqlStore) Unregister(ctx context.Context, fold, fingerprint string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM registrations WHERE fold = ? AND fingerprint = ?`), fold, fingerprint)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Operators returns the fingerprints granted operator status.
func (s *sqlStore) Operators(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT fingerprint FROM operators`))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var fp string
		if err := rows.Scan(&fp); err != nil {
			return nil, err
		}
		out = append(out, fp)
	}
	return out, rows.Err()
}

// SetOperator grants or revokes operator status of a key.
func (s *sqlStore) SetOperator(ctx context.Context, fingerprint, by string, on bool, now time.Time) error {
	var err error
	if on {
		_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO operators(fingerprint, granted_by, created_at) VALUES (?, ?, ?) ON CONFLICT(fingerprint) DO NOTHING`), fingerprint, by, ms(now))
	} else {
		_, err = s.db.ExecContext(ctx, s.q(`DELETE FROM operators WHERE fingerprint = ?`), fingerprint)
	}
	return err
}

// Bans returns the bans that have not expired at now.
func (s *sqlStore) Bans(ctx context.Context, now time.Time) ([]Ban, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, kind, value, reason, by_nick, created_at, expires_at FROM bans
		WHERE expires_at = 0 OR expires_at > ? ORDER BY id`), ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Ban
	for rows.Next() {
		var b Ban
		var created, expires int64
		if err := rows.Scan(&b.ID, &b.Kind, &b.Value, &b.Reason, &b.By, &created, &expires); err != nil {
			return nil, err
		}
		b.CreatedAt, b.Expires = fromMS(created), fromMS(expires)
		out = append(out, b)
	}
	return out, rows.Err()
}

const insertBan = `INSERT INTO bans(kind, value, reason, by_nick, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`

// AddBan stores a ban and sets its ID.
func (s *sqlStore) AddBan(ctx context.Context, b *Ban) error {
	return s.db.QueryRowContext(ctx, s.q(insertBan), b.Kind, b.Value, b.Reason, b.By, ms(b.CreatedAt), ms(b.Expires)).Scan(&b.ID)
}

// AddBans stores bans in one transaction and sets their IDs.
func (s *sqlStore) AddBans(ctx context.Context, bans []*Ban) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ids := make([]int64, len(bans))
	for i, b := range bans {
		if err := tx.QueryRowContext(ctx, s.q(insertBan), b.Kind, b.Value, b.Reason, b.By, ms(b.CreatedAt), ms(b.Expires)).Scan(&ids[i]); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// IDs are set only once the bans are stored, so that a failed call
	// leaves the caller's bans as they were.
	for i, b := range bans {
		b.ID = ids[i]
	}
	return nil
}

// RemoveBans lifts every ban on value, returning how many there were.
func (s *sqlStore) RemoveBans(ctx context.Context, value string) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM bans WHERE value = ?`), value)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Mutes returns the mutes that have not expired at now.
func (s *sqlStore) Mutes(ctx context.Context, now time.Time) ([]Mute, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT target, by_nick, expires_at FROM mutes WHERE expires_at = 0 OR expires_at > ?`), ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Mute
	for rows.Next() {
		var m Mute
		var expires int64
		if err := rows.Scan(&m.Target, &m.By, &expires); err != nil {
			return nil, err
		}
		m.Expires = fromMS(expires)
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetMute stores or replaces a mute.
func (s *sqlStore) SetMute(ctx context.Context, m Mute) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO mutes(target, by_nick, expires_at) VALUES (?, ?, ?)
		ON CONFLICT(target) DO UPDATE SET by_nick = excluded.by_nick, expires_at = excluded.expires_at`), m.Target, m.By, ms(m.Expires))
	return err
}

// RemoveMute lifts a mute.
func (s *sqlStore) RemoveMute(ctx context.Context, target string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM mutes WHERE target = ?`), target)
	return err
}

// Setting returns a stored setting ("" if unset).
func (s *sqlStore) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetSetting stores a setting.
func (s *sqlStore) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`), key, value)
	return err
}

// SetTopicLocked sets a room's +t mode.
func (s *sqlStore) SetTopicLocked(ctx context.Context, room string, locked bool) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE rooms SET topic_locked = ? WHERE name = ?`), locked, room)
	return err
}

// AddLoginCode stores the hash of a one-time web login code.
func (s *sqlStore) AddLoginCode(ctx context.Context, codeHash, fingerprint string, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO login_codes(code_hash, fingerprint, expires_at) VALUES (?, ?, ?)`), codeHash, fingerprint, ms(expires))
	return err
}

// UseLoginCode consumes a code: it returns the key it signs in as, once,
// if the code exists and has not expired. Expired codes are purged.
func (s *sqlStore) UseLoginCode(ctx context.Context, codeHash string, now time.Time) (string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM login_codes WHERE expires_at <= ?`), ms(now)); err != nil {
		return "", err
	}
	var fp string
	err = tx.QueryRowContext(ctx, s.q(`DELETE FROM login_codes WHERE code_hash = ? RETURNING fingerprint`), codeHash).Scan(&fp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", err
	}
	return fp, tx.Commit()
}

// AddWebSession stores a signed-in browser session.
func (s *sqlStore) AddWebSession(ctx context.Context, w WebSession) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO web_sessions(token_hash, fingerprint, created_at, expires_at) VALUES (?, ?, ?, ?)`),
		w.TokenHash, w.Fingerprint, ms(w.CreatedAt), ms(w.ExpiresAt))
	return err
}

// WebSessionByToken returns a live web session.
func (s *sqlStore) WebSessionByToken(ctx context.Context, tokenHash string, now time.Time) (WebSession, error) {
	var w WebSession
	var created, expires int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT token_hash, fingerprint, created_at, expires_at FROM web_sessions WHERE token_hash = ? AND expires_at > ?`),
		tokenHash, ms(now)).Scan(&w.TokenHash, &w.Fingerprint, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return w, ErrNotFound
	}
	w.CreatedAt, w.ExpiresAt = fromMS(created), fromMS(expires)
	return w, err
}

// WebSessions lists a key's live web sessions.
func (s *sqlStore) WebSessions(ctx context.Context, fingerprint string, now time.Time) ([]WebSession, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT token_hash, fingerprint, created_at, expires_at FROM web_sessions WHERE fingerprint = ? AND expires_at > ? ORDER BY created_at`),
		fingerprint, ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WebSession
	for rows.Next() {
		var w WebSession
		var created, expires int64
		if err := rows.Scan(&w.TokenHash, &w.Fingerprint, &created, &expires); err != nil {
			return nil, err
		}
		w.CreatedAt, w.ExpiresAt = fromMS(created), fromMS(expires)
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebSessions ends every web session of a key.
func (s *sqlStore) DeleteWebSessions(ctx context.Context, fingerprint string) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM web_sessions WHERE fingerprint = ?`), fingerprint)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// DeleteWebSession ends one web session.
func (s *sqlStore) DeleteWebSession(ctx context.Context, tokenHash string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM web_sessions WHERE token_hash = ?`), tokenHash)
	return err
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// KeySettingsStore keeps each key's personal settings (what the chat core
// makes of /ignore, /tz, /theme...) as one document per key fingerprint,
// which the store does not read: the core owns its format.
type KeySettingsStore interface {
	// KeySettings returns the document stored for the key, "" if none.
	KeySettings(ctx context.Context, fingerprint string) (string, error)
	// SetKeySettings stores the key's document, replacing any before it.
	SetKeySettings(ctx context.Context, fingerprint, document string, now time.Time) error
}

// KeySettings implements KeySettingsStore.
func (s *sqlStore) KeySettings(ctx context.Context, fingerprint string) (string, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT document FROM key_settings WHERE fingerprint = ?`), fingerprint).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return doc, err
}

// SetKeySettings implements KeySettingsStore.
func (s *sqlStore) SetKeySettings(ctx context.Context, fingerprint, document string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO key_settings(fingerprint, document, updated_at) VALUES (?, ?, ?)
		ON CONFLICT(fingerprint) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at`),
		fingerprint, document, ms(now))
	return err
}

// KeySettings implements KeySettingsStore.
func (s *Memory) KeySettings(ctx context.Context, fingerprint string) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	return s.keyDocs[fingerprint], nil
}

// SetKeySettings implements KeySettingsStore.
func (s *Memory) SetKeySettings(ctx context.Context, fingerprint, document string, _ time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.keyDocs[fingerprint] = document
	return nil
}

package store

import (
	"context"
	"slices"
)

// KeyRooms implements KeyStore.
func (s *sqlStore) KeyRooms(ctx context.Context, fingerprint string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT room FROM key_rooms WHERE fingerprint = ? ORDER BY position`), fingerprint)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rooms []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		rooms = append(rooms, r)
	}
	return rooms, rows.Err()
}

// SetKeyRooms implements KeyStore.
func (s *sqlStore) SetKeyRooms(ctx context.Context, fingerprint string, rooms []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM key_rooms WHERE fingerprint = ?`), fingerprint); err != nil {
		return err
	}
	for i, r := range rooms {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO key_rooms(fingerprint, position, room) VALUES (?, ?, ?)`), fingerprint, i, r); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// InputHistory implements KeyStore.
func (s *sqlStore) InputHistory(ctx context.Context, fingerprint string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT line FROM key_input_history WHERE fingerprint = ? ORDER BY id DESC LIMIT ?`), fingerprint, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	slices.Reverse(lines)
	return lines, rows.Err()
}

// AppendInputHistory implements KeyStore.
func (s *sqlStore) AppendInputHistory(ctx context.Context, fingerprint, line string, keep int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO key_input_history(fingerprint, line) VALUES (?, ?)`), fingerprint, line); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM key_input_history WHERE fingerprint = ? AND id NOT IN
		(SELECT id FROM key_input_history WHERE fingerprint = ? ORDER BY id DESC LIMIT ?)`), fingerprint, fingerprint, max(keep, 0)); err != nil {
		return err
	}
	return tx.Commit()
}

// KeyRooms implements KeyStore.
func (s *Memory) KeyRooms(ctx context.Context, fingerprint string) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return slices.Clone(s.keyRooms[fingerprint]), nil
}

// SetKeyRooms implements KeyStore.
func (s *Memory) SetKeyRooms(ctx context.Context, fingerprint string, rooms []string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if len(rooms) == 0 {
		delete(s.keyRooms, fingerprint)
	} else {
		s.keyRooms[fingerprint] = slices.Clone(rooms)
	}
	return nil
}

// InputHistory implements KeyStore.
func (s *Memory) InputHistory(ctx context.Context, fingerprint string, limit int) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	lines := s.keyLines[fingerprint]
	if limit <= 0 {
		return nil, nil
	}
	return slices.Clone(lines[max(0, len(lines)-limit):]), nil
}

// AppendInputHistory implements KeyStore.
func (s *Memory) AppendInputHistory(ctx context.Context, fingerprint, line string, keep int) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	lines := append(s.keyLines[fingerprint], line)
	lines = lines[max(0, len(lines)-max(keep, 0)):]
	if len(lines) == 0 {
		delete(s.keyLines, fingerprint)
	} else {
		s.keyLines[fingerprint] = slices.Clip(lines)
	}
	return nil
}

// ForgetKey implements KeyStore.
func (s *sqlStore) ForgetKey(ctx context.Context, fingerprint string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM key_rooms WHERE fingerprint = ?`, `DELETE FROM key_input_history WHERE fingerprint = ?`,
		`DELETE FROM waiting_messages WHERE fingerprint = ?`, `DELETE FROM key_mentions WHERE fingerprint = ?`, `DELETE FROM key_seen WHERE fingerprint = ?`} {
		if _, err := tx.ExecContext(ctx, s.q(q), fingerprint); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ForgetKey implements KeyStore.
func (s *Memory) ForgetKey(ctx context.Context, fingerprint string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.keyRooms, fingerprint)
	delete(s.keyLines, fingerprint)
	s.forgetMailLocked(fingerprint)
	return nil
}

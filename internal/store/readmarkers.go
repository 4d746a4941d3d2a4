package store

import "context"

// ReadMarkerStore keeps, for each key and conversation (a target named by
// the chat core, which the store does not read), the id of the last
// message read. Markers only move forward.
type ReadMarkerStore interface {
	// ReadMarkers returns the key's markers by target (none if it has
	// none).
	ReadMarkers(ctx context.Context, fingerprint string) (map[string]int64, error)
	// AdvanceReadMarkers moves the key's markers to the ids given, in one
	// step; a marker already at or past its id stays where it is, so
	// writes that overtake each other never move one back.
	AdvanceReadMarkers(ctx context.Context, fingerprint string, markers map[string]int64) error
}

// ReadMarkers implements ReadMarkerStore.
func (s *SQLite) ReadMarkers(ctx context.Context, fingerprint string) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT target, last_id FROM read_markers WHERE fingerprint = ?`, fingerprint)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	markers := map[string]int64{}
	for rows.Next() {
		var target string
		var id int64
		if err := rows.Scan(&target, &id); err != nil {
			return nil, err
		}
		markers[target] = id
	}
	return markers, rows.Err()
}

// AdvanceReadMarkers implements ReadMarkerStore.
func (s *SQLite) AdvanceReadMarkers(ctx context.Context, fingerprint string, markers map[string]int64) error {
	if len(markers) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for target, id := range markers {
		if _, err := tx.ExecContext(ctx, `INSERT INTO read_markers(fingerprint, target, last_id) VALUES (?, ?, ?)
			ON CONFLICT(fingerprint, target) DO UPDATE SET last_id = max(last_id, excluded.last_id)`,
			fingerprint, target, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ReadMarkers implements ReadMarkerStore.
func (s *Memory) ReadMarkers(ctx context.Context, fingerprint string) (map[string]int64, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	markers := make(map[string]int64, len(s.readMarkers[fingerprint]))
	for target, id := range s.readMarkers[fingerprint] {
		markers[target] = id
	}
	return markers, nil
}

// AdvanceReadMarkers implements ReadMarkerStore.
func (s *Memory) AdvanceReadMarkers(ctx context.Context, fingerprint string, markers map[string]int64) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if len(markers) == 0 {
		return nil
	}
	kept := s.readMarkers[fingerprint]
	if kept == nil {
		kept = map[string]int64{}
		s.readMarkers[fingerprint] = kept
	}
	for target, id := range markers {
		kept[target] = max(kept[target], id)
	}
	return nil
}
